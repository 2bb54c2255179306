// Command demoserver is the application of the demo: a tiny HTTP server
// that answers every request with the name of the node it runs on, the way
// each iWash box serves its own Squid behind the VIP. It is not part of the
// product.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	listen := flag.String("listen", ":8080", "address to listen on")
	name := flag.String("name", "", "node name to answer with (default: host name)")
	flag.Parse()
	if *name == "" {
		*name, _ = os.Hostname()
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "served by %s\n", *name)
	})
	log.Printf("demoserver %s listening on %s", *name, *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
