"""nova-vmware-ext: an out-of-tree Nova compute driver for VMware vCenter."""
