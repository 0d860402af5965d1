"""Security regression corpora: filters, paths, hosts and origins, XSS strings, secrets."""
