"""The site's pages: what runs on a device, where a model runs, and the parts they share.

`selectors` builds the page tables from the estimator's services (the API's code path, so a
page and `GET /api/v1/estimate/` never disagree); `controls` reads the GET form every page keeps
in its URL; `templatetags.hwfit_format` formats numbers with one unit.
"""
