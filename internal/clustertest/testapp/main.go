// Command testapp is the application server of the clustertest harness:
// every director of a test group also serves the application, and this
// tiny HTTP server answers each request with the name of its node
// ("served by n1"). It is test scaffolding, not part of the product.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"time"
)

func main() {
	listen := flag.String("listen", "", "address to listen on (host:port)")
	name := flag.String("name", "", "node name to answer with")
	flag.Parse()
	if *listen == "" || *name == "" {
		log.Fatal("testapp: -listen and -name are required")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "served by %s\n", *name)
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("testapp %s listening on %s", *name, *listen)
	log.Fatal(srv.ListenAndServe())
}
