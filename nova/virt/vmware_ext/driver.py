"""Shim: ``compute_driver = vmware_ext.driver.VCDriver`` loads our driver.

Nova only imports drivers from ``nova.virt.<compute_driver>``; this module
re-exports the real class and nothing else.
"""

from nova_vmware_ext.driver import VCDriver

__all__ = ['VCDriver']
