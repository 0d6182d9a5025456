"""No page loads a script, style, font or image from any host but the app itself.

Every page the site's URLs can serve is fetched (every model and device page included) and its
HTML read for what a browser would load: scripts, stylesheets and other <link> resources, images,
media, frames, inline CSS url()s and @imports; the app's own CSS files are read for url()s too.
Links to sources (<a href>) are not loads and may point anywhere.
"""

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

from devices.models import Device
from models_catalog.models import ModelArchitecture

pytestmark = pytest.mark.django_db

# <link rel=...> values that name a related document rather than load a resource.
NOT_LOADED_RELS = {"canonical", "alternate", "author", "license", "help", "next", "prev", "search", "bookmark"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)|@import\s+['"]([^'"]+)""")
# Routes with a parameter, and the pages they serve: every record's.
PARAMETERISED = {"model-detail": lambda: ModelArchitecture.objects.values_list("slug", flat=True),
                 "device-detail": lambda: Device.objects.values_list("slug", flat=True)}
# Pages of the tools answered with a query (their default page is covered by the plain route).
WITH_QUERIES = ["/search/?q=gemma", "/calculator/?model=custom&device=custom", "/compare/?what=models",
                "/devices/?kind=apple&sort=-memory", "/models/?generation_mode=block_diffusion"]
STAFF_PAGES = ["/admin/", "/admin/devices/device/", "/admin/models_catalog/modelarchitecture/"]


class Loads(HTMLParser):
    """What a browser fetches to render the page."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        rel = set((attrs.get("rel") or "").lower().split())
        if tag == "link" and attrs.get("href") and not (rel and rel <= NOT_LOADED_RELS):
            self.urls.append(attrs["href"])
        for name in ("src", "poster", "data"):
            if attrs.get(name) and tag in ("script", "img", "source", "video", "audio", "iframe", "embed", "object",
                                           "input", "track"):
                self.urls.append(attrs[name])
        for name in ("srcset", "imagesrcset"):
            for candidate in (attrs.get(name) or "").split(","):
                if candidate.strip():
                    self.urls.append(candidate.split()[0])
        if attrs.get("style"):
            self.urls += css_urls(attrs["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.urls += css_urls(data)


def css_urls(css: str) -> list[str]:
    return [a or b for a, b in CSS_URL.findall(css)]


def is_external(url: str) -> bool:
    parts = urlsplit(url.strip())
    if parts.scheme in ("data", "blob"):
        return False  # inline: nothing is fetched
    return bool(parts.netloc) or parts.scheme not in ("", "http", "https") or (
        parts.scheme != "" and parts.netloc not in ("", "testserver"))


def site_pages() -> list[str]:
    pages = []
    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            continue  # the admin's and the API's own (the staff pages and the API docs are checked below)
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        if route.startswith("api/"):
            continue  # the schema is JSON; the API docs page is checked below
        if "<" not in route:
            pages.append("/" + route)
        elif pattern.name in PARAMETERISED:
            pages += ["/" + re.sub(r"<[^>]+>", slug, route) for slug in PARAMETERISED[pattern.name]()]
        else:
            pytest.fail(f"The route {route!r} ({pattern.name}) takes a parameter: add its pages to PARAMETERISED.")
    return pages


def test_the_parser_finds_what_a_browser_would_load():
    parser = Loads()
    parser.feed('<link rel="stylesheet" href="https://cdn.example/x.css"><script src="//cdn.example/a.js"></script>'
                '<img srcset="/a.png 1x, https://img.example/b.png 2x"><div style="background:url(http://x.example/i.png)">'
                '<style>@import "https://fonts.example/f.css";</style><a href="https://github.com/source">source</a>'
                '<link rel="canonical" href="https://hwfit.example/">')
    assert [url for url in parser.urls if is_external(url)] == [
        "https://cdn.example/x.css", "//cdn.example/a.js", "https://img.example/b.png", "http://x.example/i.png",
        "https://fonts.example/f.css"]


def test_no_page_loads_anything_from_another_host(client, staff_user):
    pages = site_pages() + WITH_QUERIES
    assert "/calculator/" in pages and "/models/diffusiongemma-26b-a4b-it/" in pages and len(pages) > 200
    offending = {}
    for path in pages + STAFF_PAGES + ["/api/docs/", "/api/v1/"]:
        if path in STAFF_PAGES:
            client.force_login(staff_user)
        response = client.get(path, HTTP_ACCEPT="text/html")
        assert response.status_code in (200, 302, 400), path  # 400: a form with its errors is a page too
        if response.status_code == 302 or "html" not in response.get("Content-Type", ""):
            continue
        parser = Loads()
        parser.feed(response.content.decode())
        external = [url for url in parser.urls if is_external(url)]
        if external:
            offending[path] = external
    assert offending == {}


def test_the_apps_stylesheets_load_nothing_from_another_host():
    sheets = list(Path(settings.BASE_DIR, "static").rglob("*.css"))
    assert sheets
    offending = {str(sheet): [u for u in css_urls(sheet.read_text()) if is_external(u)] for sheet in sheets}
    assert {sheet: urls for sheet, urls in offending.items() if urls} == {}
