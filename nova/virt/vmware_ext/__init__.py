"""Loader shim: lets Nova find nova_vmware_ext as ``vmware_ext.driver``."""
