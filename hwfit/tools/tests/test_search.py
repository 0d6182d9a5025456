"""Search, the lists' search/sort/filter, "pick your device" and the detect endpoint."""

import pytest

from hwfit.tools.detect import device_candidates

pytestmark = pytest.mark.django_db


def test_search_finds_devices_and_models_by_every_word(client):
    response = client.get("/search/", {"q": "rtx 4090"})
    assert response.status_code == 200
    results = response.context["results"]
    assert [d.slug for d in results.devices] == ["nvidia-geforce-rtx-4090", "nvidia-geforce-rtx-4090-d-modified-47gb-reported"]
    assert results.models == []
    models = client.get("/search/", {"q": "gemma 4"}).context["results"].models
    assert {"gemma-4-26b-a4b", "gemma-4-31b"} <= {m.slug for m in models}


def test_search_without_words_asks_for_some(client):
    body = client.get("/search/", {"q": "   "}).content.decode()
    assert 'id="search-count"' not in body and 'name="q"' in body


def test_the_home_page_searches_and_picks_without_javascript(client):
    body = client.get("/").content.decode()
    assert '<form class="search" method="get" action="/search/" role="search">' in body
    assert '<form class="search" method="get" action="/devices/pick/" id="pick-device">' in body
    assert '<option value="nvidia-geforce-rtx-4090" selected>NVIDIA GeForce RTX 4090</option>' in body
    # The detect button is there for JavaScript to show; hidden without it.
    assert 'data-detect data-target="f-device" data-url="/detect/" hidden' in body


def test_every_question_on_the_home_page_answers(client):
    import re

    body = client.get("/").content.decode()
    links = re.findall(r'<a href="([^"]+)">', body.split('class="questions"')[1].split("</ul>")[0])
    assert len(links) == 7
    for link in links:
        assert client.get(link.replace("&amp;", "&")).status_code == 200, link


def test_pick_your_device_goes_to_its_page(client):
    response = client.get("/devices/pick/", {"device": "nvidia-h100-sxm"})
    assert response.status_code == 302 and response["Location"] == "/devices/nvidia-h100-sxm/"
    response = client.get("/devices/pick/", {"device": "4090"})
    assert response["Location"] == "/devices/?q=4090"


def test_the_device_list_searches_sorts_and_filters(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        response = client.get("/devices/", {"kind": "gpu", "q": "nvidia rtx", "sort": "-memory"})
    rows = list(response.context["listing"].rows)
    assert rows and all(d.kind == "gpu" and "RTX" in d.name for d in rows)
    memories = [d.memory_gb for d in rows]
    assert memories == sorted(memories, reverse=True)
    body = response.content.decode()
    # A heading link keeps the search and filters and turns the sort around.
    assert '<a href="?q=nvidia+rtx&amp;kind=gpu&amp;sort=memory">Memory</a> ↓' in body


def test_the_device_list_names_an_unknown_sort(client):
    response = client.get("/devices/", {"sort": "price; drop table"})
    assert response.status_code == 400
    assert "Unknown sort &#x27;price; drop table&#x27;: one of name, vendor, memory, bandwidth, compute, power, year, price" in response.content.decode()


def test_the_device_list_filters_by_vendor(client):
    rows = list(client.get("/devices/", {"vendor": "apple"}).context["listing"].rows)
    assert rows and {d.vendor for d in rows} == {"Apple"}


def test_the_model_list_filters_by_generation_and_sorts_by_size(client):
    response = client.get("/models/", {"generation_mode": "block_diffusion", "sort": "-total"})
    rows = list(response.context["listing"].rows)
    assert rows and all(m.generation_mode == "block_diffusion" for m in rows)
    assert [m.total_params_b for m in rows] == sorted((m.total_params_b for m in rows), reverse=True)
    assert client.get("/models/", {"generation_mode": "telepathic"}).status_code == 400


def test_lists_put_their_tables_in_a_scrolling_box(client):
    for url in ("/devices/", "/models/"):
        assert '<div class="table-box"><table class="data"' in client.get(url).content.decode()


def test_detect_proposes_the_catalog_device_a_browser_reports(client):
    renderer = "ANGLE (NVIDIA, NVIDIA GeForce RTX 4090 (0x00002684) Direct3D11 vs_5_0 ps_5_0, D3D11)"
    body = client.get("/detect/", {"renderer": renderer}).json()
    assert body["candidates"][0] == {"slug": "nvidia-geforce-rtx-4090", "name": "NVIDIA GeForce RTX 4090",
                                     "url": "/devices/nvidia-geforce-rtx-4090/"}
    assert client.get("/detect/", {"renderer": "Apple GPU"}).json() == {"candidates": []}


DEVICES = [("apple-m2", "Apple M2"), ("apple-m2-max", "Apple M2 Max"), ("apple-m2-max-38", "Apple M2 Max (38-core GPU)"),
           ("rtx-4060-ti-16", "NVIDIA GeForce RTX 4060 Ti 16GB"), ("rtx-4060-ti-8", "NVIDIA GeForce RTX 4060 Ti 8GB"),
           ("rtx-4060", "NVIDIA GeForce RTX 4060"), ("rx-7900-xtx", "AMD Radeon RX 7900 XTX")]


@pytest.mark.parametrize(("report", "expected"), [
    ("ANGLE (Apple, ANGLE Metal Renderer: Apple M2 Max, Unspecified Version)", ["apple-m2-max", "apple-m2-max-38", "apple-m2"]),
    ("ANGLE (Apple, ANGLE Metal Renderer: Apple M2, Unspecified Version)", ["apple-m2", "apple-m2-max", "apple-m2-max-38"]),
    # Memory sizes are not in a renderer string: both 4060 Ti cards are proposed (the shorter name
    # first), the plain 4060 after them.
    ("NVIDIA GeForce RTX 4060 Ti/PCIe/SSE2", ["rtx-4060-ti-8", "rtx-4060-ti-16", "rtx-4060"]),
    ("ANGLE (AMD, AMD Radeon RX 7900 XTX Direct3D11 vs_5_0 ps_5_0, D3D11)", ["rx-7900-xtx"]),
    ("Mesa Intel(R) UHD Graphics 620 (KBL GT2)", []),
    ("", []),
])
def test_device_candidates_need_every_model_number(report, expected):
    assert [c.slug for c in device_candidates(report, DEVICES)] == expected

