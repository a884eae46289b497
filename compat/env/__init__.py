"""A cell's environment: the installs (uv or pip, reuse by stamp), the allowlisted
variables its processes see, the disk it takes, the host programs it needs."""
