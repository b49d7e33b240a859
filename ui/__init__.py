"""Browser chat UI (Gradio) over `rag.pipeline`: run it with `rag serve`.

``ui.app.build_app(settings)`` returns the `gr.Blocks` page; ``ui.render`` holds
the HTML rendering as pure functions; ``ui.engine`` the shared, once-loaded
resources; ``ui.uploads`` the upload checks.
"""
