"""The ``kubeasset`` command line: inspect and run code locations locally, generate CRDs, run the cluster."""
