"""Blocking: the keys under which an enrollment is indexed, so a probe meets its true mates
while being compared with a tiny share of the gallery."""
