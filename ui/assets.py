"""Page CSS and script for the chat UI (passed to ``launch``, as Gradio 6 wants)."""

CSS = """
.gradio-container { max-width: 1400px !important; margin: 0 auto !important; }
/* top-level rules also apply outside .contain: narrower page margins on phones */
.gradio-container .main.app {
  padding-left: clamp(8px, 3vw, 32px) !important; padding-right: clamp(8px, 3vw, 32px) !important;
}
#rag-header h1 { font-size: 1.35rem; margin: 0; }
#rag-header p { margin: 2px 0 0; color: var(--body-text-color-subdued); font-size: .92rem; }
#rag-chat { min-height: 360px; }
#rag-chat .placeholder { padding: 0 16px; }
#rag-side { min-width: min(100%, 340px) !important; }

/* answers */
.rag-answer p { margin: 0; line-height: 1.6; }
.rag-sent { margin-right: .15em; }
a.rag-cite {
  display: inline-block; padding: 0 .32em; margin: 0 .08em; border-radius: 6px;
  font-size: .8em; font-weight: 600; line-height: 1.45; text-decoration: none !important;
  color: var(--color-accent) !important; background: var(--color-accent-soft);
  border: 1px solid var(--color-accent); vertical-align: .1em; cursor: pointer;
}
a.rag-cite:hover, a.rag-cite:focus { background: var(--color-accent); color: #fff !important; }
.rag-unsupported {
  text-decoration: underline wavy #d97706; text-underline-offset: 3px;
  background: rgba(245, 158, 11, .12); border-radius: 3px;
}
.rag-flag {
  display: inline-block; margin-left: .35em; padding: 0 .4em; border-radius: 5px;
  font-size: .72em; font-weight: 600; color: #92400e; background: #fef3c7;
  border: 1px solid #f59e0b; vertical-align: .12em; text-decoration: none;
}
.rag-note, .rag-meta, .rag-rewrite {
  margin-top: .45em; font-size: .8em; color: var(--body-text-color-subdued);
}
.rag-rewrite q { font-style: italic; }
.rag-streaming { white-space: pre-wrap; line-height: 1.6; }
.rag-status { color: var(--body-text-color-subdued); font-style: italic; }
.rag-cursor { animation: rag-blink 1s steps(2, start) infinite; color: var(--color-accent); }
@keyframes rag-blink { to { visibility: hidden; } }

/* refusals and errors */
.rag-refusal {
  border-left: 4px solid #f59e0b; background: rgba(245, 158, 11, .10);
  padding: .55em .8em; border-radius: 6px;
}
.rag-refusal-title { font-weight: 700; color: #b45309; margin-bottom: .2em; }
.rag-refusal p { margin: .1em 0 .3em; }
.rag-reason, .rag-searched { font-size: .88em; margin-top: .25em; }
.rag-draft { font-size: .85em; margin-top: .35em; color: var(--body-text-color-subdued); }
.rag-draft > summary { cursor: pointer; }
.rag-searched q { font-style: italic; }
.rag-error {
  border-left: 4px solid #dc2626; background: rgba(220, 38, 38, .08);
  padding: .55em .8em; border-radius: 6px;
}
.rag-fix { margin-top: .35em; font-size: .9em; }
.rag-fix code, .rag-banner code {
  user-select: all; padding: .1em .4em; border-radius: 4px;
  background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary);
}

/* banner */
.rag-banner {
  border: 1px solid #dc2626; background: rgba(220, 38, 38, .08); border-radius: 8px;
  padding: .6em .9em;
}
.rag-banner ul { margin: .3em 0 0; padding-left: 1.2em; }
.rag-banner li { margin: .25em 0; }

/* sources panel */
.rag-sources { font-size: .92rem; }
.rag-empty { color: var(--body-text-color-subdued); padding: .5em 0; }
.rag-query { margin: 0 0 .5em; font-size: .9em; overflow-wrap: anywhere; }
.rag-query q { font-style: italic; font-weight: 600; }
.rag-tag {
  display: inline-block; margin-left: .3em; padding: 0 .45em; border-radius: 999px;
  font-size: .75em; background: var(--color-accent-soft); color: var(--color-accent);
  white-space: nowrap;
}
.rag-group-note { font-size: .88em; margin-bottom: .4em; color: #b45309; }
.rag-src-list { list-style: none; margin: 0; padding: 0; }
.rag-src-list li { margin: 0 0 .55em; }
details.rag-src {
  border: 1px solid var(--border-color-primary); border-radius: 8px;
  background: var(--background-fill-primary); transition: box-shadow .3s;
}
details.rag-src[open] { border-color: var(--color-accent); }
details.rag-src > summary { cursor: pointer; padding: .5em .7em; list-style: none; }
details.rag-src > summary::-webkit-details-marker { display: none; }
.rag-src-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: .2em .5em; }
.rag-n { font-weight: 700; color: var(--color-accent); }
.rag-title { font-weight: 600; flex: 1 1 12em; overflow-wrap: anywhere; }
.rag-page, .rag-score {
  font-size: .78em; padding: 0 .45em; border-radius: 999px; white-space: nowrap;
  border: 1px solid var(--border-color-primary); color: var(--body-text-color-subdued);
}
.rag-snippet { display: block; margin-top: .3em; font-size: .9em; line-height: 1.5; }
details.rag-src[open] .rag-snippet { display: none; }
.rag-passage {
  padding: .2em .7em .5em; white-space: pre-wrap; line-height: 1.55; font-size: .9em;
  max-height: 22em; overflow: auto; overflow-wrap: anywhere;
}
.rag-file { padding: 0 .7em .5em; font-size: .75em; color: var(--body-text-color-subdued);
  overflow-wrap: anywhere; }
.rag-docs .rag-file { padding: 0; }
.rag-sources mark, .rag-answer mark { background: #fde68a; color: #111827; border-radius: 2px;
  padding: 0 .1em; }
.rag-flash { box-shadow: 0 0 0 3px var(--color-accent); }
.rag-also { font-size: .8em; color: var(--body-text-color-subdued); margin-top: .3em; }
details.rag-older { margin-top: .8em; border-top: 1px dashed var(--border-color-primary);
  padding-top: .5em; }
details.rag-older > summary { cursor: pointer; font-size: .88em;
  color: var(--body-text-color-subdued); overflow-wrap: anywhere; }

/* documents */
.rag-docs-sum { font-size: .85em; color: var(--body-text-color-subdued); margin-bottom: .3em; }
.rag-docs { max-height: 420px; overflow: auto; }
.rag-docs table, .rag-docs tr { border: none !important; }
.rag-docs table { width: 100%; border-collapse: collapse; font-size: .85rem; }
.rag-docs th, .rag-docs td {
  padding: .3em .4em; border: none !important;
  border-bottom: 1px solid var(--border-color-primary) !important;
  text-align: left; vertical-align: top; background: transparent;
}
.rag-docs th { font-weight: 600; color: var(--body-text-color-subdued); }
.rag-docs .num { text-align: right; white-space: nowrap; }
.rag-doc-title { overflow-wrap: anywhere; }
.rag-upload-status ul { margin: .2em 0; padding-left: 1.2em; }
.rag-ok { color: #15803d; }
.rag-bad { color: #b91c1c; }

/* page view: the cited PDF page beside the passage text, stacked when narrow */
.rag-passage-body {
  display: grid; gap: .5em; align-items: start; padding: 0 .5em .5em;
  grid-template-columns: minmax(0, 1fr) minmax(0, 1fr);
}
.rag-passage-body.rag-page-wide { grid-template-columns: minmax(0, 1fr); }
.rag-passage-body .rag-passage { padding: .2em .2em .5em; }
.rag-pageview { margin: 0; }
.rag-page-frame {
  position: relative; line-height: 0; cursor: zoom-in; background: #fff;
  border: 1px solid var(--border-color-primary); border-radius: 4px; overflow: hidden;
}
.rag-page-wide .rag-page-frame { cursor: zoom-out; }
.rag-page-frame img { display: block; width: 100%; height: auto; }
.rag-page-mark {
  position: absolute; pointer-events: none; border-radius: 2px; mix-blend-mode: multiply;
  background: rgba(250, 204, 21, .45); outline: 2px solid rgba(217, 119, 6, .8);
  outline-offset: 1px;
}
.rag-pageview figcaption { margin-top: .3em; font-size: .75em; line-height: 1.4;
  color: var(--body-text-color-subdued); overflow-wrap: anywhere; }
.rag-page-btn {
  margin-left: .6em; padding: 0 .5em; border-radius: 6px; font-size: 1em; cursor: pointer;
  color: var(--color-accent); background: transparent; border: 1px solid var(--color-accent);
}

#rag-chat .message-row.bot-row { max-width: calc(100% - 24px); }

@media (max-width: 640px) {
  .rag-passage-body { grid-template-columns: minmax(0, 1fr); }
  #rag-header h1 { font-size: 1.1rem; }
  #rag-header p { font-size: .82rem; }
  #rag-chat .message-row { margin: 12px 6px 6px !important; }
  #rag-chat .message-row.bot-row { max-width: calc(100% - 12px) !important; }
  #rag-chat .message-row.user-row { max-width: calc(100% - 40px) !important; }
}
"""

# Clicking a [n] marker (in an answer or a refusal) opens its passage in the
# sources panel: switch to the Sources tab, open the <details> (and any folded
# earlier answer around it), scroll to it and flash it. A PDF passage also asks
# the server for its page view ("answer id:passage n" into the hidden
# #rag-page-request box); "Show page" buttons do the same; a click on the page
# image widens it.
JS = """
() => {
  const showTab = () => {
    for (const tab of document.querySelectorAll('#rag-side [role="tab"]')) {
      if (tab.textContent.trim().startsWith('Sources') &&
          tab.getAttribute('aria-selected') !== 'true') { tab.click(); }
    }
  };
  const openPassage = (id, tries) => {
    const el = document.getElementById(id);
    if (!el) { if (tries > 0) setTimeout(() => openPassage(id, tries - 1), 100); return; }
    for (let p = el; p; p = p.parentElement) { if (p.tagName === 'DETAILS') p.open = true; }
    el.scrollIntoView({ behavior: 'smooth', block: 'start' });
    el.classList.add('rag-flash');
    setTimeout(() => el.classList.remove('rag-flash'), 1600);
    if (el.dataset.page && !el.querySelector('.rag-pageview')) requestPage(el.dataset.page);
  };
  const revealPage = (key, tries) => {
    const view = document.querySelector(`details[data-page="${key}"] .rag-pageview`);
    if (view) { view.scrollIntoView({ behavior: 'smooth', block: 'nearest' }); return; }
    if (tries > 0) setTimeout(() => revealPage(key, tries - 1), 150);
  };
  const requestPage = (key) => {
    const box = document.querySelector('#rag-page-request textarea, #rag-page-request input');
    if (!box || !key) return;
    box.value = `${key}#${Date.now()}`;  // a new value each time, so the change event fires
    box.dispatchEvent(new Event('input', { bubbles: true }));
    revealPage(key, 100);
  };
  document.addEventListener('click', (event) => {
    const target = event.target.closest ? event.target : null;
    const button = target && target.closest('.rag-page-btn');
    if (button) { event.preventDefault(); requestPage(button.dataset.page); return; }
    const frame = target && target.closest('.rag-page-frame');
    if (frame) { frame.closest('.rag-passage-body').classList.toggle('rag-page-wide'); return; }
    const link = target && target.closest('a.rag-cite');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const id = (link.getAttribute('href') || '').replace(/^#/, '');
    if (!id) return;
    showTab();
    openPassage(id, 30);
  }, true);
}
"""
