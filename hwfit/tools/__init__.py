"""The site's tools: the calculator (with the planner), compare, search and the catalog lists,
and detect-my-device.

Every figure comes from `estimator.services` (the API's code path): these modules choose what
to ask and shape the answers for a page, they never compute an estimate.
"""
