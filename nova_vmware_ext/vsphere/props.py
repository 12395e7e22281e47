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

"""Property retrieval: many objects, many properties, one paged query.

Results are plain dicts (``{'obj': moref, 'name': ..., 'summary.type': ...}``)
filled from RetrievePropertiesEx: nothing is read lazily from pyvmomi
managed objects afterwards, so the number of round trips is known up front.
ContainerView replaces the classic recursive TraversalSpecs: it is the
fastest query on a real vCenter and the only one vcsim handles.
"""

from oslo_log import log as logging
from pyVmomi import vim
from pyVmomi import vmodl

LOG = logging.getLogger(__name__)

PropertyCollector = vmodl.query.PropertyCollector


def _property_specs(properties):
    """PropertySpecs from {vim type: [property paths]}."""
    return [PropertyCollector.PropertySpec(type=obj_type, pathSet=list(paths),
                                           all=False)
            for obj_type, paths in properties.items()]


def _to_dict(obj_content):
    item = {'obj': obj_content.obj}
    for prop in obj_content.propSet or ():
        item[prop.name] = prop.val
    missing = [m.path for m in obj_content.missingSet or ()]
    if missing:
        item['_missing'] = missing
    return item


def collect(session, spec, page_size=None):
    """Run RetrievePropertiesEx on a FilterSpec; follow continuation tokens."""
    collector = session.content.propertyCollector
    options = PropertyCollector.RetrieveOptions(maxObjects=page_size or None)
    result = collector.RetrievePropertiesEx([spec], options)
    items = []
    while result is not None:
        items.extend(_to_dict(o) for o in result.objects or ())
        if not result.token:
            break
        token = result.token
        try:
            result = collector.ContinueRetrievePropertiesEx(token)
        except Exception:
            # Free the server-side result set we will never read.
            try:
                collector.CancelRetrievePropertiesEx(token)
            except Exception as exc:
                LOG.debug('CancelRetrievePropertiesEx failed: %s', exc)
            raise
    return items


def retrieve_objects(session, refs, properties, page_size=None):
    """Read properties of the given managed objects in one query.

    :param refs: managed object references (of one or more types).
    :param properties: {vim type: [property paths]} covering those types.
    :returns: list of dicts, one per object that still exists.
    """
    if not refs:
        return []
    spec = PropertyCollector.FilterSpec(
        objectSet=[PropertyCollector.ObjectSpec(obj=ref, skip=False)
                   for ref in refs],
        propSet=_property_specs(properties),
        reportMissingObjectsInResults=False)
    return collect(session, spec, page_size)


def retrieve_related(session, ref, paths, properties, page_size=None):
    """Properties of the objects ``ref`` refers to, in one query.

    vCenter follows ``ref``'s reference properties ``paths`` itself (a
    cluster's ``host`` and ``datastore``), so objects added or removed since
    we last looked are seen.

    :param properties: {vim type: [property paths]} of the referred objects.
    """
    spec = PropertyCollector.FilterSpec(
        objectSet=[PropertyCollector.ObjectSpec(obj=ref, skip=True, selectSet=[
            PropertyCollector.TraversalSpec(name=path, type=type(ref),
                                            path=path, skip=False)
            for path in paths])],
        propSet=_property_specs(properties))
    return collect(session, spec, page_size)


def retrieve_one(session, ref, paths):
    """Properties of one object as a dict, or None if it is gone."""
    items = retrieve_objects(session, [ref], {type(ref): paths})
    return items[0] if items else None


class ContainerView(object):
    """A server-side list of all objects of some types under a container.

    Create it once and query it many times: vCenter keeps it current as
    objects come and go, so each query is a single RetrievePropertiesEx
    (plus ContinueRetrievePropertiesEx per extra page).
    """

    def __init__(self, session, container, types, recursive=True):
        self.session = session
        self.container = container
        self.types = list(types)
        manager = session.content.viewManager
        self.view = manager.CreateContainerView(
            container, self.types, recursive)

    def retrieve(self, properties, page_size=None):
        """Properties of every object in the view.

        :param properties: {vim type: [property paths]}; types missing here
            are skipped.
        """
        traverse = PropertyCollector.TraversalSpec(
            name='view', type=vim.view.ContainerView, path='view', skip=False)
        spec = PropertyCollector.FilterSpec(
            objectSet=[PropertyCollector.ObjectSpec(
                obj=self.view, skip=True, selectSet=[traverse])],
            propSet=_property_specs(properties))
        return collect(self.session, spec, page_size)

    def destroy(self):
        try:
            self.view.DestroyView()
        except Exception as exc:
            LOG.debug('DestroyView of %s failed: %s', self.view._moId, exc)


def retrieve_all(session, properties, container=None, page_size=None):
    """Properties of all objects of the given types under a container.

    A one-off query: creates a view, reads it, destroys it (3 calls plus
    one per extra page). Keep a ContainerView for repeated queries.
    """
    view = ContainerView(session,
                         container or session.content.rootFolder,
                         properties.keys())
    try:
        return view.retrieve(properties, page_size)
    finally:
        view.destroy()
