"""Nova-facing operations: take Nova objects, call vsphere/ and images/."""
