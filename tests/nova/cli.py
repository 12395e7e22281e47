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

"""The in-process compute API on a real socket, for the ``openstack`` CLI.

Nova's API fixture serves the API through wsgi-intercept, which only this
process can reach. ``serve(test)`` serves the same API (Nova's paste
pipeline, keystone stubbed by the fixture) on 127.0.0.1 with a "noauth"
front that makes every request the fixture's admin user in its project, and
beside it, under ``/image`` and ``/network``, read-only Glance v2 images and
Neutron networks over Nova's fixtures (the CLI looks the image and network
of ``server create`` up there), and Keystone's version document under
``/identity``. Nothing else of Glance, Neutron or Keystone is served.

``openstack(cloud, *args)`` runs python-openstackclient against it as a
subprocess, with a clouds.yaml of ``auth_type: none`` and endpoint
overrides.
"""

import datetime
import json
import os
import shutil
import socketserver
import subprocess
import sys
import threading
import time
from wsgiref import simple_server

import fixtures
from nova.tests import fixtures as nova_fixtures

CLI_TIMEOUT = 120


class Cloud(object):
    """Where the CLI finds the served API; made by ``serve``."""

    def __init__(self, url, config_dir):
        self.url = url
        self.config_dir = config_dir
        self.clouds_yaml = os.path.join(config_dir, 'clouds.yaml')


def _noauth(app, project_id):
    """Every request as the admin of ``project_id`` (Nova's fixture reads
    these headers in place of a Keystone token)."""
    def front(environ, start_response):
        environ['HTTP_X_AUTH_USER'] = 'admin'
        environ['HTTP_X_USER_ID'] = 'admin'
        environ['HTTP_X_AUTH_PROJECT_ID'] = project_id
        environ['HTTP_X_ROLES'] = 'reader,member,admin'
        return app(environ, start_response)
    return front


def _json(start_response, status, body):
    data = json.dumps(body, default=_jsonable).encode()
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(data)))])
    return [data]


def _jsonable(value):
    if isinstance(value, datetime.datetime):
        return value.strftime('%Y-%m-%dT%H:%M:%SZ')
    return str(value)


def _image_v2(image):
    """A Glance v2 image record from the fixture's (v1-style) one."""
    record = {k: v for k, v in image.items()
              if k not in ('properties', 'deleted', 'deleted_at',
                           'is_public')}
    record.update(image.get('properties') or {})
    record.setdefault('visibility', 'public')
    record['self'] = '/v2/images/%s' % image['id']
    record['file'] = '/v2/images/%s/file' % image['id']
    record['schema'] = '/v2/schemas/image'
    return record


def _query(environ):
    return dict(p.split('=', 1) for p in environ.get(
        'QUERY_STRING', '').split('&') if '=' in p)


def _versions(start_response, base_url, prefix, version):
    return _json(start_response, '300 Multiple Choices', {
        'versions': [{'id': version, 'status': 'CURRENT', 'links': [
            {'rel': 'self', 'href': '%s%s/%s/' % (
                base_url, prefix, version.split('.')[0]
                if prefix == '/image' else version)}]}]})


def _glance(glance, base_url):
    """Read-only Glance v2 (versions, list, show) over Nova's fixture."""
    def app(environ, start_response):
        path = environ.get('PATH_INFO', '').rstrip('/')
        if path == '/image':
            return _versions(start_response, base_url, '/image', 'v2.16')
        prefix = '/image/v2/images'
        if path == prefix:
            query = _query(environ)
            images = [_image_v2(i) for i in glance.images.values()
                      if all(str(i.get(k)) == v for k, v in query.items()
                             if k in ('id', 'name', 'status'))]
            return _json(start_response, '200 OK', {
                'images': images, 'schema': '/v2/schemas/images',
                'first': '/v2/images'})
        if path.startswith(prefix + '/'):
            image = glance.images.get(path[len(prefix) + 1:])
            if image is not None:
                return _json(start_response, '200 OK', _image_v2(image))
        return _json(start_response, '404 Not Found', {
            'message': 'no image at %s' % path})
    return app


def _neutron(neutron, base_url):
    """Read-only Neutron networks (versions, list, show) over the fixture."""
    def app(environ, start_response):
        path = environ.get('PATH_INFO', '').rstrip('/')
        if path == '/network':
            return _versions(start_response, base_url, '/network', 'v2.0')
        prefix = '/network/v2.0/networks'
        if path == prefix:
            query = {k: v for k, v in _query(environ).items()
                     if k in ('id', 'name')}
            return _json(start_response, '200 OK',
                         neutron.list_networks(**query))
        if path.startswith(prefix + '/'):
            network = neutron._networks.get(path[len(prefix) + 1:])
            if network is not None:
                return _json(start_response, '200 OK', {'network': network})
        return _json(start_response, '404 Not Found', {
            'NeutronError': {'message': 'no network at %s' % path}})
    return app


def _keystone(base_url):
    """Keystone's version document only: the CLI builds its identity
    client for ``server list`` even when it needs no project or user."""
    def app(environ, start_response):
        path = environ.get('PATH_INFO', '').rstrip('/')
        if path == '/identity':
            return _json(start_response, '300 Multiple Choices', {
                'versions': {'values': [{
                    'id': 'v3.14', 'status': 'stable',
                    'links': [{'rel': 'self',
                               'href': base_url + '/identity/v3/'}]}]}})
        return _json(start_response, '404 Not Found', {
            'error': {'code': 404, 'message': 'not served: %s' % path}})
    return app


class _Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass  # the API logs its requests itself


def serve(test, project_id=nova_fixtures.PROJECT_ID):
    """Serve the test's compute API (and image API) on 127.0.0.1.

    Call after the test's OSAPIFixture is set up; stops at cleanup.
    """
    # Imported here: nova.api.wsgi relies on webob.dec being imported by
    # the modules Nova's fixtures import first.
    from nova.api import wsgi as nova_wsgi

    nova_app = _noauth(nova_wsgi.Loader().load_app('osapi_compute'),
                       project_id)
    server = simple_server.make_server('127.0.0.1', 0, None,
                                       server_class=_Server,
                                       handler_class=_QuietHandler)
    url = 'http://127.0.0.1:%d' % server.server_port
    services = {'image': _glance(test.glance, url),
                'network': _neutron(test.neutron, url),
                'identity': _keystone(url)}

    def app(environ, start_response):
        first = environ.get('PATH_INFO', '').split('/')[1:2]
        service = services.get(first[0] if first else '', nova_app)
        return service(environ, start_response)
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={'poll_interval': 0.1}, daemon=True)
    thread.start()
    test.addCleanup(server.server_close)
    test.addCleanup(server.shutdown)

    config_dir = test.useFixture(fixtures.TempDir()).path
    cloud = Cloud(url, config_dir)
    with open(cloud.clouds_yaml, 'w') as f:
        json.dump({'clouds': {'vcsim-demo': {
            'auth_type': 'none',
            'compute_endpoint_override': url + '/v2.1',
            'image_endpoint_override': url + '/image',
            'network_endpoint_override': url + '/network',
            'identity_endpoint_override': url + '/identity',
            'compute_api_version': '2.latest',
            'identity_api_version': '3',
        }}}, f)  # JSON is YAML
    return cloud


def openstack_command():
    """The openstack client beside this Python, else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), 'openstack')
    return here if os.path.exists(here) else shutil.which('openstack')


def openstack(cloud, *args):
    """Run ``openstack --os-cloud vcsim-demo ARGS``; (returncode, out, err).

    ``-f json`` output is parsed.
    """
    # Only our clouds.yaml: no OS_CLOUD, OS_AUTH_URL... of the caller.
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env['OS_CLIENT_CONFIG_FILE'] = cloud.clouds_yaml
    command = [openstack_command(), '--os-cloud', 'vcsim-demo'] + list(args)
    proc = subprocess.run(command, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=CLI_TIMEOUT)
    out = proc.stdout
    if proc.returncode == 0 and '-f' in args and 'json' in args:
        out = json.loads(out) if out.strip() else None
    return proc.returncode, out, proc.stderr


class CliTestMixin(object):
    """For test cases of Nova's functional harness that drive the
    ``openstack`` CLI: call ``start_cli()`` at the end of setUp."""

    def start_cli(self):
        self.assertIsNotNone(openstack_command(),
                             'python-openstackclient is not installed')
        self.cloud = serve(self)

    def osc(self, *args):
        code, out, err = openstack(self.cloud, *args)
        self.assertEqual(0, code, 'openstack %s: %s' % (
            ' '.join(args), err[-2000:]))
        return out

    def wait_for(self, server_id, status, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            shown = self.osc('server', 'show', server_id, '-f', 'json')
            if shown['status'] == status or time.monotonic() > deadline:
                self.assertEqual(status, shown['status'])
                return shown
            time.sleep(0.5)
