"""Renderers: plans as text or JSON, and generated files (registry, nginx, worker, clients)."""
