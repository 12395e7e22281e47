"""The vSphere API client layer over pyvmomi. Knows nothing of Nova."""
