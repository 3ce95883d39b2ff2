"""End-to-end tests: real docker-registry, skopeo, nginx and workerd processes on 127.0.0.1."""
