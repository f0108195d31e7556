"""The resource metrics pipeline (metrics.k8s.io): kubelet scraper, rate storage and the API that serves it."""
