// Package monitoring holds no code: it is the home of the Grafana dashboard
// (quadrature-dashboard.json), the Prometheus alert rules
// (quadrature-alerts.yml) and their promtool unit tests
// (quadrature-alerts_test.yml), see README.md. Its Go tests check them:
//
//   - promtool check rules and promtool test rules pass (promtool from
//     Debian's prometheus package, which deploy/deps.sh installs; without
//     it the tests skip, and fail under CI=true);
//   - the dashboard is valid: unique panel ids, every panel and query on the
//     datasource variable, every expression valid PromQL (checked by
//     promtool), grid positions that do not overlap;
//   - on a real three-node group (internal/clustertest: root and network
//     namespaces, skipped otherwise and failing under CI=true) every metric
//     named by a dashboard query, a variable or an alert is in the /metrics
//     of at least one node, the operations metrics agree with the status
//     API, and a real Prometheus server scraping the group answers every
//     dashboard query, evaluates every rule without error and fires no
//     alert but the one the test provokes.
package monitoring
