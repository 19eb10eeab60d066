"""The Gradio demo's parts; ``app.py`` lays them out and wires their events.

- ``events``: the event functions, small functions over the shared ``session.Demo`` and the request's
  ``session.Session``;
- ``session``: ``Demo`` (the pipeline, the predictions' cache, the files, the running optimisations) and
  ``Session`` (one tab's results and views, rendered into its files);
- ``photos``: the photos a client names, checked, hashed, previewed, and the masks painted on them;
- ``clicks``: the guided clicks, their JSON form and their marks;
- ``inputs``: the checks of what a client sends and ``report_errors``;
- ``store``: the bounded caches and the sessions' files;
- ``text``: the demo's words and CSS.
"""
