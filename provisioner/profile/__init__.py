"""The profile: the user's whole interface (models, loader, JSON Schema)."""

from provisioner.profile.load import load_profile, parse_profile
from provisioner.profile.model import Profile

__all__ = ["Profile", "load_profile", "parse_profile"]
