# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Generate the vim25 WSDL that suds (oslo.vmware) needs to talk to vcsim.

vCenter serves ``/sdk/vimService.wsdl``; vcsim does not, and oslo.vmware
ships only the type schemas of the vim API (``oslo_vmware/wsdl/8.0/
{core,query,reflect,vim}-types.xsd``), not its messages and operations.
This script writes, next to copies of those schemas:

- ``vim-messagetypes.xsd``: one ``<Method>RequestType`` per vim method,
- ``vim.wsdl``: the request/response elements, fault elements, messages,
  the ``VimPortType`` and the document/literal ``VimBinding``,
- ``vimService.wsdl``: the ``VimService`` with its ``VimPort``,

all made from pyVmomi's type registry: every method of every managed type
of the vim25 namespace (``vim.*``, ``vmodl.*``), with its parameters, result
and faults. A method whose parameter or result type the 8.0 schemas do not
define is left out and listed on stderr (``skipped``).

    python wsdl_gen.py --out DIR     # write the files into DIR
    python wsdl_gen.py --cached      # print a cache directory holding them

``--cached`` generates into ``$VCSIM_CACHE_DIR`` (default
``~/.cache/nova-vmware-ext``) under ``wsdl-<hash>``, the hash taken over
this script, pyVmomi's version and the schema files, so the output is made
once per set of inputs. The output is deterministic.
"""

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

XSD_NS = 'http://www.w3.org/2001/XMLSchema'
VIM_NS = 'urn:vim25'
SCHEMA_VERSION = '8.0'
SCHEMA_FILES = ('core-types.xsd', 'query-types.xsd', 'reflect-types.xsd',
                'vim-types.xsd')
SOAP_ACTION = 'urn:vim25/8.0.0.0'
# vSphere's own vimService.wsdl says localhost; clients set the location.
SERVICE_LOCATION = 'https://localhost/sdk/vimService'
# pyVmomi names for which the schemas use plain xsd:string.
STRING_ALIASES = {'PropertyPath', 'MethodName', 'TypeName'}
OUTPUT_FILES = ('vim-messagetypes.xsd', 'vim.wsdl', 'vimService.wsdl')


def schema_dir():
    """oslo.vmware's directory of the vim 8.0 type schemas."""
    import oslo_vmware

    return os.path.join(os.path.dirname(oslo_vmware.__file__), 'wsdl',
                        SCHEMA_VERSION)


def schema_types(directory):
    """Names of the complex and simple types the schemas define."""
    names = set()
    for name in SCHEMA_FILES:
        tree = ElementTree.parse(os.path.join(directory, name))
        for kind in ('complexType', 'simpleType'):
            for node in tree.getroot().findall('{%s}%s' % (XSD_NS, kind)):
                names.add(node.get('name'))
    return names


class UnknownType(Exception):
    """A pyVmomi type the schemas do not define."""


class Element:
    """One <element> of a message: name, qualified type and occurrences."""

    def __init__(self, name, xsd_type, optional, array):
        self.name = name
        self.xsd_type = xsd_type
        self.optional = optional
        self.array = array

    def xml(self):
        attrs = 'name=%s type=%s' % (quoteattr(self.name),
                                     quoteattr(self.xsd_type))
        if self.optional:
            attrs += ' minOccurs="0"'
        if self.array:
            attrs += ' maxOccurs="unbounded"'
        return '<element %s />' % attrs


class Operation:
    """One vim method: its wsdl name, parameters, result and faults."""

    def __init__(self, name, params, result, faults):
        self.name = name
        self.params = params
        self.result = result  # an Element, or None for void
        self.faults = faults  # fault type names, RuntimeFault first

    def signature(self):
        elements = list(self.params) + [self.result]
        return tuple(e and (e.name, e.xsd_type, e.optional, e.array)
                     for e in elements) + tuple(self.faults)


class Generator:
    """Turns pyVmomi's registry into Operations over the known types."""

    def __init__(self, known_types):
        from pyVmomi import VmomiSupport

        self.vmomi = VmomiSupport
        self.known = known_types

    def xsd_type(self, typ):
        """(qualified schema type, is array) of a pyVmomi type."""
        v = self.vmomi
        array = issubclass(typ, v.Array) and typ is not v.Array
        if array:
            typ = typ.Item
        if issubclass(typ, v.ManagedObject):
            return 'vim25:ManagedObjectReference', array
        ns, name = v.GetQualifiedWsdlName(typ)
        if ns == XSD_NS:
            return 'xsd:' + name, array
        if name in STRING_ALIASES:
            return 'xsd:string', array
        if name == 'DataObject':
            return 'xsd:anyType', array
        if name not in self.known:
            raise UnknownType(name)
        return 'vim25:' + name, array

    def element(self, name, typ, flags):
        xsd_type, array = self.xsd_type(typ)
        return Element(name, xsd_type, bool(flags & self.vmomi.F_OPTIONAL),
                       array)

    def operation(self, info):
        params = [self.element('_this', self.vmomi.ManagedObject, 0)]
        for p in info.params:
            try:
                params.append(self.element(p.name, p.type, p.flags))
            except UnknownType:
                # An optional parameter newer than the schemas: a client
                # of this WSDL cannot send it, the method still works.
                if not p.flags & self.vmomi.F_OPTIONAL:
                    raise
        result = None
        if info.result is not type(None):
            result = self.element('returnval', info.result, info.resultFlags)
        faults = ['RuntimeFault']
        for fault in info.faults:
            name = self.vmomi.GetVmodlType(fault)._wsdlName
            if name not in self.known:
                raise UnknownType(name)
            if name not in faults:
                faults.append(name)
        return Operation(info.wsdlName, params, result,
                         [faults[0]] + sorted(faults[1:]))

    def new_types(self):
        """Schema text of the vim25 data and enum types pyVmomi knows and
        the 8.0 schemas lack (newer than 8.0), each with its ArrayOf type.

        Adds their names to the known types; a type that needs one of
        another namespace is left out (and so are the methods using it).
        """
        v = self.vmomi
        candidates = {}
        for name in v.ListDataTypes() + v.ListEnumTypes():
            typ = v.GetVmodlType(name)
            ns, wsdl_name = v.GetQualifiedWsdlName(typ)
            if (ns == VIM_NS and wsdl_name not in self.known
                    and not wsdl_name.startswith('ArrayOf')
                    and wsdl_name not in STRING_ALIASES | {'DataObject'}):
                candidates[wsdl_name] = typ
        schema = self.known
        while True:
            self.known = schema | set(candidates)
            texts, failed = {}, set()
            for name, typ in candidates.items():
                try:
                    texts[name] = self.type_xsd(name, typ)
                except UnknownType:
                    failed.add(name)
            if not failed:
                break
            for name in failed:
                del candidates[name]
        return [texts[name] for name in sorted(texts)]

    def type_xsd(self, name, typ):
        v = self.vmomi
        array = ('<complexType name="ArrayOf%s"><sequence><element name="%s"'
                 ' type="vim25:%s" minOccurs="0" maxOccurs="unbounded" />'
                 '</sequence></complexType>' % (name, name, name))
        if issubclass(typ, v.Enum):
            values = ''.join('<enumeration value=%s />' % quoteattr(str(value))
                             for value in typ.values)
            return ('<simpleType name="%s"><restriction base="xsd:string">'
                    '%s</restriction></simpleType>\n   %s'
                    % (name, values, array))
        base = typ.__bases__[0]
        base_xsd, _ = self.xsd_type(base)
        inherited = {p.name for p in getattr(base, '_propList', ())}
        props = ''.join(self.element(p.name, p.type, p.flags).xml()
                        for p in typ._propList if p.name not in inherited)
        return ('<complexType name="%s"><complexContent><extension base="%s">'
                '<sequence>%s</sequence></extension></complexContent>'
                '</complexType>\n   %s' % (name, base_xsd, props, array))

    def vim_methods(self):
        """{wsdl name: pyVmomi method info} of every vim25 method."""
        v = self.vmomi
        methods = {}
        for type_name in sorted(v.ListManagedTypes()):
            if not type_name.startswith(('vim.', 'vmodl.')):
                continue
            typ = v.GetVmodlType(type_name)
            for info in typ._methodInfo.values():
                if v.GetWsdlNamespace(info.version) == VIM_NS:
                    methods.setdefault(info.wsdlName, []).append(info)
        return methods

    def operations(self):
        """(sorted Operations, {skipped wsdl name: missing type}, schema
        text of the types newer than the schemas)."""
        types = self.new_types()
        operations, skipped = [], {}
        for name, infos in sorted(self.vim_methods().items()):
            try:
                ops = [self.operation(info) for info in infos]
            except UnknownType as e:
                skipped[name] = str(e)
                continue
            if len({op.signature() for op in ops}) != 1:
                raise ValueError('%s has %d different definitions: %s' % (
                    name, len(ops), ', '.join(i.typeName for i in infos)))
            operations.append(ops[0])
        return operations, skipped, types


HEADER = '<?xml version="1.0" encoding="UTF-8" ?>\n' \
    '<!-- Generated by nova-vmware-ext tools/vcsim/wsdl_gen.py from ' \
    'pyVmomi %s: do not edit. -->\n'


def messagetypes_xsd(operations, types, header):
    out = [header, '<schema targetNamespace="urn:vim25"'
           ' xmlns="http://www.w3.org/2001/XMLSchema"'
           ' xmlns:vim25="urn:vim25"'
           ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
           ' elementFormDefault="qualified">',
           '   <include schemaLocation="vim-types.xsd" />',
           '   <!-- Types newer than the %s schemas, from pyVmomi. -->'
           % SCHEMA_VERSION]
    out += ['   ' + text for text in types]
    for op in operations:
        out.append('   <complexType name="%sRequestType"><sequence>' % op.name)
        out += ['      ' + p.xml() for p in op.params]
        out.append('   </sequence></complexType>')
    out.append('</schema>\n')
    return '\n'.join(out)


def vim_wsdl(operations, header):
    faults = sorted({f for op in operations for f in op.faults})
    out = [header, '<definitions targetNamespace="urn:vim25"'
           ' xmlns="http://schemas.xmlsoap.org/wsdl/"'
           ' xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"'
           ' xmlns:vim25="urn:vim25"'
           ' xmlns:xsd="http://www.w3.org/2001/XMLSchema">',
           '<types>',
           '<schema targetNamespace="urn:vim25"'
           ' xmlns="http://www.w3.org/2001/XMLSchema"'
           ' xmlns:vim25="urn:vim25"'
           ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
           ' elementFormDefault="qualified">',
           '   <include schemaLocation="vim-messagetypes.xsd" />',
           '   <element name="versionURI" type="xsd:string" />']
    for fault in faults:
        out.append('   <element name="%sFault" type="vim25:%s" />'
                   % (fault, fault))
    for op in operations:
        out.append('   <element name="%s" type="vim25:%sRequestType" />'
                   % (op.name, op.name))
        if op.result is None:
            out.append('   <element name="%sResponse"><complexType />'
                       '</element>' % op.name)
        else:
            out.append('   <element name="%sResponse"><complexType>'
                       '<sequence>%s</sequence></complexType></element>'
                       % (op.name, op.result.xml()))
    out += ['</schema>', '</types>']
    for fault in faults:
        out.append('<message name="%sFaultMsg"><part name="fault"'
                   ' element="vim25:%sFault" /></message>' % (fault, fault))
    for op in operations:
        for suffix, element in (('Request', op.name),
                                ('Response', op.name + 'Response')):
            out.append('<message name="%s%sMsg"><part name="parameters"'
                       ' element="vim25:%s" /></message>'
                       % (op.name, suffix, element))
    out.append('<portType name="VimPortType">')
    for op in operations:
        out.append('   <operation name="%s">' % op.name)
        out.append('      <input message="vim25:%sRequestMsg" />' % op.name)
        out.append('      <output message="vim25:%sResponseMsg" />' % op.name)
        out += ['      <fault name="%sFault" message="vim25:%sFaultMsg" />'
                % (f, f) for f in op.faults]
        out.append('   </operation>')
    out.append('</portType>')
    out.append('<binding name="VimBinding" type="vim25:VimPortType">')
    out.append('   <soap:binding style="document"'
               ' transport="http://schemas.xmlsoap.org/soap/http" />')
    for op in operations:
        out.append('   <operation name="%s">' % op.name)
        out.append('      <soap:operation soapAction="%s" style="document" />'
                   % SOAP_ACTION)
        out.append('      <input><soap:body use="literal" /></input>')
        out.append('      <output><soap:body use="literal" /></output>')
        out += ['      <fault name="%sFault"><soap:fault name="%sFault"'
                ' use="literal" /></fault>' % (f, f) for f in op.faults]
        out.append('   </operation>')
    out += ['</binding>', '</definitions>\n']
    return '\n'.join(out)


def service_wsdl(header):
    return header + (
        '<definitions targetNamespace="urn:vim25Service"\n'
        '   xmlns="http://schemas.xmlsoap.org/wsdl/"\n'
        '   xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"\n'
        '   xmlns:interface="urn:vim25">\n'
        '   <import location="vim.wsdl" namespace="urn:vim25" />\n'
        '   <service name="VimService">\n'
        '      <port binding="interface:VimBinding" name="VimPort">\n'
        '         <soap:address location="%s" />\n'
        '      </port>\n'
        '   </service>\n'
        '</definitions>\n') % SERVICE_LOCATION


def pyvmomi_version():
    from importlib import metadata

    return metadata.version('pyvmomi')


def generate(out_dir, schemas=None):
    """Write the WSDL files and the schemas into out_dir; return the
    {wsdl method name: missing type} of the methods left out."""
    schemas = schemas or schema_dir()
    operations, skipped, types = Generator(
        schema_types(schemas)).operations()
    header = HEADER % pyvmomi_version()
    os.makedirs(out_dir, exist_ok=True)
    for name in SCHEMA_FILES:
        shutil.copyfile(os.path.join(schemas, name),
                        os.path.join(out_dir, name))
    texts = {'vim-messagetypes.xsd': messagetypes_xsd(operations, types,
                                                      header),
             'vim.wsdl': vim_wsdl(operations, header),
             'vimService.wsdl': service_wsdl(header)}
    for name, text in texts.items():
        with open(os.path.join(out_dir, name), 'w', encoding='utf-8') as f:
            f.write(text)
    return skipped


def inputs_hash(schemas=None):
    """sha256 (16 hex digits) over this script, pyVmomi's version and the
    schema files: what the output depends on."""
    schemas = schemas or schema_dir()
    h = hashlib.sha256()
    with open(os.path.abspath(__file__), 'rb') as f:
        h.update(f.read())
    h.update(('pyvmomi %s\n' % pyvmomi_version()).encode())
    for name in SCHEMA_FILES:
        with open(os.path.join(schemas, name), 'rb') as f:
            h.update(name.encode() + b'\n' + f.read())
    return h.hexdigest()[:16]


def cache_dir():
    if os.environ.get('VCSIM_CACHE_DIR'):
        return os.environ['VCSIM_CACHE_DIR']
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'nova-vmware-ext')


def cached():
    """The cache directory holding the generated files, made if needed.

    Generated into a temporary directory renamed into place, so concurrent
    callers never see a partial set.
    """
    target = os.path.join(cache_dir(), 'wsdl-' + inputs_hash())
    if os.path.isfile(os.path.join(target, 'vimService.wsdl')):
        return target
    os.makedirs(cache_dir(), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.wsdl-', dir=cache_dir())
    try:
        report_skipped(generate(tmp))
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, target)
        except OSError:
            if not os.path.isfile(os.path.join(target, 'vimService.wsdl')):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def report_skipped(skipped):
    if skipped:
        print('wsdl_gen: left out %d methods whose types neither the %s '
              'schemas nor pyVmomi\'s vim25 types define: %s'
              % (len(skipped), SCHEMA_VERSION, ', '.join(sorted(skipped))),
              file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--out', help='write the files into this directory')
    group.add_argument('--cached', action='store_true',
                       help='print the cache directory holding the files')
    args = parser.parse_args(argv)
    if args.cached:
        print(cached())
    else:
        report_skipped(generate(args.out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
