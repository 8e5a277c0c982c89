// faqbot chat page. Every piece of page or user text reaches the DOM through textContent or
// createTextNode, never through innerHTML: passages are quoted from pages we do not control.
"use strict";

(function () {
  const STORAGE_KEY = "faqbot.chat.v1";
  const MAX_TURNS = 40;
  const TIMEOUT_MS = 30000;

  const form = document.getElementById("ask-form");
  const input = document.getElementById("question");
  const sendButton = document.getElementById("send");
  const list = document.getElementById("messages");
  const contextLine = document.getElementById("context");
  const contextDrug = document.getElementById("context-drug");
  const resetButton = document.getElementById("reset");
  const namesList = document.getElementById("drug-names");
  const namesStatus = document.getElementById("typeahead-status");

  // The conversation survives following a citation and coming back (sessionStorage, this tab only).
  let state = loadState();
  let busy = false;

  function emptyState() {
    return { sessionId: null, context: null, drug: null, turns: [], feedback: {} };
  }

  function loadState() {
    try {
      const saved = JSON.parse(window.sessionStorage.getItem(STORAGE_KEY) || "null");
      if (saved && Array.isArray(saved.turns)) {
        return Object.assign(emptyState(), saved);
      }
    } catch (err) {
      // storage disabled or corrupt: start afresh
    }
    return emptyState();
  }

  function saveState() {
    try {
      window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    } catch (err) {
      // storage full or disabled: the conversation still works, it just is not kept
    }
  }

  // ---- small DOM helpers --------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function button(label, className, onClick) {
    const node = el("button", className, label);
    node.type = "button";
    node.addEventListener("click", onClick);
    return node;
  }

  // Scroll a new bubble into view above the sticky composer, its top first when it is tall.
  function reveal(node) {
    const composer = document.querySelector(".composer");
    const bottom = window.innerHeight - (composer ? composer.offsetHeight : 0);
    const box = node.getBoundingClientRect();
    const gap = 12;
    if (box.bottom + gap > bottom) {
      window.scrollBy(0, Math.max(0, Math.min(box.bottom + gap - bottom, box.top - gap)));
    } else if (box.top < 0) {
      window.scrollBy(0, box.top - gap);
    }
  }

  function formatDate(iso) {
    const date = new Date(iso);
    if (!iso || Number.isNaN(date.getTime())) return iso || "unknown";
    return date.toLocaleDateString("en-GB", { year: "numeric", month: "long", day: "numeric", timeZone: "UTC" });
  }

  // ---- passage text: markdown-ish to DOM, with highlights -----------------------------

  // The API counts offsets in code points; JavaScript strings index UTF-16 units.
  function toUnitRanges(text, ranges) {
    const valid = (ranges || []).filter((r) => Array.isArray(r) && r.length === 2 && r[0] < r[1]);
    if (!/[\uD800-\uDFFF]/.test(text)) return valid;
    const units = [];
    let unit = 0;
    for (const ch of text) {
      units.push(unit);
      unit += ch.length;
    }
    units.push(unit);
    const at = (i) => units[Math.max(0, Math.min(i, units.length - 1))];
    return valid.map((r) => [at(r[0]), at(r[1])]);
  }

  // Append text[start, end) to parent: "**" pairs become <strong>, highlighted offsets <mark>.
  function appendInline(parent, text, start, end, marks, withBold) {
    const stars = new Set();
    if (withBold) {
      const found = [];
      for (let i = text.indexOf("**", start); i !== -1 && i + 2 <= end; i = text.indexOf("**", i + 2)) found.push(i);
      if (found.length % 2) found.pop(); // an unpaired "**" stays as written
      found.forEach((i) => stars.add(i));
    }
    const runs = [];
    let bold = false;
    for (let i = start; i < end; ) {
      if (stars.has(i)) {
        bold = !bold;
        i += 2;
        continue;
      }
      const ch = text[i] === "\n" ? " " : text[i];
      const marked = marks.some((r) => r[0] <= i && i < r[1]);
      const last = runs[runs.length - 1];
      if (last && last.bold === bold && last.marked === marked) last.text += ch;
      else runs.push({ text: ch, bold: bold, marked: marked });
      i += 1;
    }
    let markNode = null;
    for (const run of runs) {
      const node = run.bold ? el("strong", "", run.text) : document.createTextNode(run.text);
      if (run.marked) {
        if (!markNode) markNode = parent.appendChild(document.createElement("mark"));
        markNode.appendChild(node);
      } else {
        markNode = null;
        parent.appendChild(node);
      }
    }
  }

  const BULLET = /^[ \t]*[*+-][ \t]+/;
  const NUMBERED = /^[ \t]*\d{1,3}[.)][ \t]+/;
  const HEADING = /^[ \t]*#{1,6}[ \t]+/;
  const TABLE_ROW = /^[ \t]*\|/;

  // Passage text as paragraphs, bullet lists and table rows, keeping offsets into the raw text.
  function renderPassage(text, highlights) {
    const root = el("div", "passage");
    const marks = toUnitRanges(text, highlights);
    const lines = [];
    let pos = 0;
    for (const line of text.split("\n")) {
      lines.push({ text: line, start: pos, end: pos + line.length });
      pos += line.length + 1;
    }
    let block = null; // the open block: {kind: "p"|"ul"|"ol"|"pre", node, item}
    let afterBlank = false;

    for (const line of lines) {
      if (!line.text.trim()) {
        afterBlank = true;
        continue;
      }
      const gap = afterBlank;
      afterBlank = false;
      const marker = BULLET.exec(line.text) || NUMBERED.exec(line.text);
      if (marker) {
        // blank lines between bullets (common in the pages) do not end the list
        const kind = BULLET.test(line.text) ? "ul" : "ol";
        if (!block || block.kind !== kind) block = { kind: kind, node: root.appendChild(el(kind)) };
        const item = block.node.appendChild(el("li"));
        if (kind === "ol") item.value = parseInt(marker[0], 10);
        appendInline(item, text, line.start + marker[0].length, line.end, marks, true);
        block.item = item;
        continue;
      }
      if (TABLE_ROW.test(line.text)) {
        if (!block || block.kind !== "pre" || gap) block = { kind: "pre", node: root.appendChild(el("pre")) };
        else block.node.appendChild(document.createTextNode("\n"));
        appendInline(block.node, text, line.start, line.end, marks, false);
        continue;
      }
      const heading = HEADING.exec(line.text);
      if (heading) {
        const strong = root.appendChild(el("p")).appendChild(el("strong"));
        appendInline(strong, text, line.start + heading[0].length, line.end, marks, true);
        block = null;
        continue;
      }
      if (block && block.item && /^[ \t]/.test(line.text)) {
        // an indented line continues the list item above it
        block.item.appendChild(document.createTextNode(" "));
        appendInline(block.item, text, line.start, line.end, marks, true);
        continue;
      }
      if (!block || block.kind !== "p" || gap) {
        block = { kind: "p", node: root.appendChild(el("p")) };
      } else {
        block.node.appendChild(document.createTextNode(" "));
      }
      appendInline(block.node, text, line.start, line.end, marks, true);
    }
    return root;
  }

  // ---- bubbles ------------------------------------------------------------------------

  function addMessage(role, content) {
    const item = el("li", "msg msg-" + role);
    item.appendChild(content);
    list.appendChild(item);
    return item;
  }

  function addUserBubble(question) {
    const bubble = el("p", "bubble");
    bubble.appendChild(el("span", "visually-hidden", "You asked: "));
    bubble.appendChild(document.createTextNode(question));
    return addMessage("user", bubble);
  }

  function botBubble(label) {
    const bubble = el("article", "bubble");
    bubble.setAttribute("aria-label", label);
    return bubble;
  }

  function sectionLabel(passage) {
    return passage.title + " › " + passage.section;
  }

  function citation(passage, lead) {
    const line = el("p", "citation");
    line.appendChild(document.createTextNode(lead));
    const link = el("a", "cite-link", sectionLabel(passage));
    link.href = passage.url;
    line.appendChild(link);
    line.appendChild(document.createTextNode(" · page updated "));
    const time = el("time", "", formatDate(passage.last_modified));
    time.dateTime = passage.last_modified || "";
    line.appendChild(time);
    return line;
  }

  function passageBlock(passage) {
    const fragment = document.createDocumentFragment();
    if (passage.kind === "faq" && passage.question) {
      fragment.appendChild(el("p", "faq-question", passage.question));
    }
    fragment.appendChild(renderPassage(passage.text || "", passage.highlights));
    return fragment;
  }

  function suggestionQuestion(passage) {
    if (passage.kind === "faq" && passage.question) return passage.question;
    return passage.title + " " + passage.section.split(" › ").join(" ");
  }

  // The question a response answers, and the drug to keep it to when its words name none, for a link.
  function linkFor(question, data) {
    const params = new URLSearchParams();
    params.set("q", data.clarified_question || question);
    const drug = data.drug;
    if (drug && (data.clarified_question || drug.how === "context" || drug.how === "filter")) params.set("drug", drug.doc_id);
    return window.location.origin + "/?" + params.toString();
  }

  function shareRow(url) {
    const row = el("div", "share");
    const status = el("span", "share-status");
    status.setAttribute("role", "status");
    const copy = button("Copy link", "link-button", async () => {
      try {
        if (!navigator.clipboard || !window.isSecureContext) throw new Error("no clipboard");
        await navigator.clipboard.writeText(url);
        status.textContent = "Link copied.";
      } catch (err) {
        // no clipboard here (plain http, or permission refused): show the link to copy by hand
        let field = row.querySelector(".share-url");
        if (!field) {
          field = el("input", "share-url");
          field.type = "text";
          field.readOnly = true;
          field.value = url;
          field.setAttribute("aria-label", "Link to this answer");
          row.appendChild(field);
        }
        field.focus();
        field.select();
        status.textContent = "Copy the link below.";
      }
    });
    copy.dataset.url = url;
    copy.setAttribute("aria-label", "Copy a link that asks this question again");
    row.append(copy, status);
    return row;
  }

  function choicesList(data, live) {
    const items = el("ul", "choices");
    items.setAttribute("aria-label", data.clarify.question);
    for (const choice of data.clarify.choices || []) {
      const pick = button("", "secondary choice", () => ask(choice.title, false, { drug: choice.doc_id }));
      pick.appendChild(el("span", "choice-title", choice.title));
      if (choice.brands && choice.brands.length) pick.appendChild(el("span", "brands", choice.brands.join(", ")));
      pick.disabled = !live;
      items.appendChild(el("li")).appendChild(pick);
    }
    return items;
  }

  function renderResponse(data, question, live) {
    const label = data.answered ? "faqbot's answer" : data.clarify ? "faqbot asks which medicine you mean" : "faqbot has no answer";
    const bubble = botBubble(label);
    if (data.clarified_question) {
      const line = bubble.appendChild(el("p", "clarified", "Your question: "));
      line.appendChild(el("q", "", data.clarified_question));
    }
    for (const notice of data.notices || []) {
      const note = el("p", "notice", notice);
      note.setAttribute("role", "alert");
      bubble.appendChild(note);
    }
    if (data.answered && data.answer) {
      const answer = data.answer;
      bubble.appendChild(passageBlock(answer));
      bubble.appendChild(citation(answer, "From "));
      bubble.appendChild(el("p", "disclaimer", "Not medical advice. Ask a pharmacist or doctor about your own treatment."));
      const others = data.alternatives || [];
      if (others.length) {
        const details = el("details", "alternatives");
        details.appendChild(el("summary", "", "Other possible answers (" + others.length + ")"));
        const items = details.appendChild(el("ol", "alternatives-list"));
        for (const other of others) {
          const item = items.appendChild(el("li"));
          item.appendChild(citation(other, ""));
          item.appendChild(passageBlock(other));
        }
        bubble.appendChild(details);
      }
      bubble.appendChild(shareRow(linkFor(question, data)));
      bubble.appendChild(feedbackRow(data.query_id));
    } else if (data.clarify) {
      bubble.appendChild(el("p", "no-answer", data.message));
      bubble.appendChild(choicesList(data, live));
    } else {
      if (data.covers) {
        bubble.appendChild(coversBlock(data.covers));
      } else {
        bubble.appendChild(el("p", "no-answer", data.message || "faqbot has no answer to this question."));
      }
      const others = data.alternatives || [];
      if (others.length) {
        const labelId = "suggest-" + data.query_id;
        const label = el("p", "suggestions-label", "Perhaps you meant one of these:");
        label.id = labelId;
        bubble.appendChild(label);
        const items = el("ul", "suggestions");
        items.setAttribute("aria-labelledby", labelId);
        for (const other of others) {
          const question = suggestionQuestion(other);
          const text = other.kind === "faq" && other.question ? other.question : sectionLabel(other);
          items.appendChild(el("li")).appendChild(button(text, "suggestion", () => ask(question)));
        }
        bubble.appendChild(items);
      }
    }
    return addMessage("bot", bubble);
  }

  // the drug's page doesn't say: say so, and link the sections it does have
  function coversBlock(covers) {
    const block = document.createDocumentFragment();
    const lead = el("p", "no-answer", "The " + covers.title + " page doesn't say this, as far as faqbot can tell. ");
    const page = el("a", "", "Read the whole " + covers.title + " page");
    page.href = covers.url;
    lead.appendChild(page);
    lead.appendChild(document.createTextNode("."));
    block.appendChild(lead);
    const line = el("p", "covers", "It covers: ");
    covers.sections.forEach((section, i) => {
      if (i) line.appendChild(document.createTextNode(", "));
      const link = el("a", "", section.title);
      link.href = section.url;
      line.appendChild(link);
    });
    block.appendChild(line);
    return block;
  }

  function feedbackRow(queryId) {
    const row = el("div", "feedback");
    const label = el("span", "feedback-label", "Was this helpful?");
    const yes = button("Helpful", "secondary", () => send(true));
    const no = button("Not helpful", "secondary", () => send(false));
    const comment = el("details", "feedback-comment");
    comment.appendChild(el("summary", "", "Add a comment (optional)"));
    const commentLabel = el("label", "");
    commentLabel.appendChild(el("span", "visually-hidden", "Comment for the editors"));
    const box = el("textarea");
    box.maxLength = 2000;
    box.placeholder = "What were you looking for? Sent with your Helpful / Not helpful click.";
    commentLabel.appendChild(box);
    comment.appendChild(commentLabel);
    const status = el("span", "feedback-status");
    status.setAttribute("role", "status");
    row.append(label, yes, no, status, comment);

    function done(helpful) {
      yes.disabled = true;
      no.disabled = true;
      yes.setAttribute("aria-pressed", String(helpful === true));
      no.setAttribute("aria-pressed", String(helpful === false));
      comment.hidden = true;
      status.className = "feedback-status";
      status.textContent = "Thanks for your feedback.";
    }

    async function send(helpful) {
      yes.disabled = true;
      no.disabled = true;
      status.textContent = "Sending…";
      const body = { query_id: queryId, helpful: helpful };
      const text = box.value.trim();
      if (text) body.comment = text;
      try {
        const response = await postJSON("/feedback", body);
        if (!response.ok) throw new Error(await errorDetail(response));
        state.feedback[queryId] = helpful;
        saveState();
        done(helpful);
      } catch (err) {
        yes.disabled = false;
        no.disabled = false;
        status.className = "feedback-status failed";
        status.textContent = "Could not send your feedback: " + err.message;
      }
    }

    if (Object.prototype.hasOwnProperty.call(state.feedback, queryId)) done(state.feedback[queryId]);
    return row;
  }

  function renderError(title, detail, question) {
    const bubble = botBubble("Error");
    bubble.classList.add("bubble-error");
    bubble.setAttribute("role", "alert");
    const text = bubble.appendChild(el("p"));
    text.appendChild(el("strong", "", title));
    if (detail) text.appendChild(document.createTextNode(" " + detail));
    if (question) {
      bubble.appendChild(button("Try again", "secondary", (event) => {
        event.currentTarget.disabled = true;
        ask(question);
      }));
    }
    return addMessage("bot", bubble);
  }

  function showContext() {
    contextLine.hidden = !state.drug;
    contextDrug.textContent = state.drug || "";
    resetButton.hidden = state.turns.length === 0;
  }

  // ---- talking to the server ----------------------------------------------------------

  function postJSON(url, body) {
    const controller = new AbortController();
    const timer = window.setTimeout(() => controller.abort(), TIMEOUT_MS);
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
      signal: controller.signal,
    }).finally(() => window.clearTimeout(timer));
  }

  async function errorDetail(response) {
    try {
      const data = await response.json();
      if (typeof data.detail === "string") return data.detail;
      if (data.detail) return JSON.stringify(data.detail);
    } catch (err) {
      // not JSON: fall through to the status line
    }
    return "HTTP " + response.status + (response.statusText ? " " + response.statusText : "");
  }

  // options.drug: keep the answer to this drug's page (a picked choice, a shared link);
  // options.fresh: ask on its own, outside the conversation so far (a shared link)
  async function ask(question, typed, options) {
    options = options || {};
    question = question.trim();
    if (!question || busy) return;
    busy = true;
    sendButton.disabled = true;
    closeNames();
    if (typed) input.value = "";
    // a question asked now drops the one waiting for its medicine: its choices no longer apply
    for (const stale of list.querySelectorAll("button.choice")) stale.disabled = true;
    addUserBubble(question);
    const thinking = el("p", "bubble");
    thinking.setAttribute("role", "status");
    thinking.appendChild(document.createTextNode("Thinking"));
    thinking.appendChild(el("span", "dots"));
    const pending = addMessage("bot", thinking);
    pending.classList.add("thinking");
    list.setAttribute("aria-busy", "true");
    reveal(pending);

    const body = { question: question };
    // the conversation's state is the signed context the last answer returned: send it back unchanged
    if (state.context && !options.fresh) body.context = state.context;
    if (state.sessionId && !options.fresh) body.session_id = state.sessionId;
    if (options.drug) body.drug = options.drug;
    let shown;
    try {
      const response = await postJSON("/ask", body);
      pending.remove();
      if (response.ok) {
        const data = await response.json();
        state.sessionId = data.session_id || state.sessionId;
        state.context = data.context || state.context;
        // a response without a drug (one no page covers) leaves the server's context as it was
        if (data.drug) state.drug = data.drug.title;
        state.turns.push({ question: question, response: data });
        state.turns = state.turns.slice(-MAX_TURNS);
        saveState();
        shown = renderResponse(data, question, true);
      } else if (response.status === 422 || response.status === 413) {
        shown = renderError("faqbot cannot take this question:", await errorDetail(response), null);
      } else {
        shown = renderError("faqbot had a problem answering (HTTP " + response.status + "):", await errorDetail(response), question);
      }
    } catch (err) {
      pending.remove();
      const detail = err && err.name === "AbortError"
        ? "It took too long to answer. Please try again."
        : "Check your connection and try again.";
      shown = renderError("Could not reach faqbot.", detail, question);
    } finally {
      busy = false;
      sendButton.disabled = false;
      list.removeAttribute("aria-busy");
    }
    showContext();
    reveal(shown);
  }

  function reset() {
    state = emptyState();
    saveState();
    list.replaceChildren();
    showContext();
    input.focus();
  }

  // ---- wiring -------------------------------------------------------------------------

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ask(input.value, true);
  });
  for (const chip of document.querySelectorAll(".chip[data-question]")) {
    chip.addEventListener("click", () => ask(chip.dataset.question));
  }
  resetButton.addEventListener("click", reset);

  state.turns.forEach((turn, i) => {
    addUserBubble(turn.question);
    renderResponse(turn.response, turn.question, i === state.turns.length - 1);
  });
  showContext();
  if (state.turns.length) reveal(list.lastElementChild);

  // ---- drug names as you type: the ARIA combobox pattern (list autocomplete) ------------

  let names = null; // [{name, title, key, words}] from GET /drugs, loaded on first use
  let loadingNames = null;
  let nameOptions = []; // the options on screen
  let active = -1;
  let word = null; // {start, end} of the word being completed

  function normalise(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function loadNames() {
    if (!loadingNames) {
      loadingNames = fetch("/drugs", { headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : []))
        .then((drugs) => {
          names = [];
          for (const drug of drugs) {
            for (const name of drug.names || []) {
              const key = normalise(name);
              names.push({ name: name, title: drug.title, key: key, words: key.split(/[^a-z0-9]+/).filter(Boolean) });
            }
          }
          updateNames();
        })
        .catch(() => {
          loadingNames = null; // offline for now: try again on the next keystroke
        });
    }
  }

  // Edits (insert, delete, substitute, swap two neighbours) between a and b, stopping early above limit.
  function distance(a, b, limit) {
    if (Math.abs(a.length - b.length) > limit) return limit + 1;
    let before = null;
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i += 1) {
      const row = [i];
      let best = i;
      for (let j = 1; j <= b.length; j += 1) {
        const cost = a[i - 1] === b[j - 1] ? 0 : 1;
        let value = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost);
        if (before && i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, before[j - 2] + 1);
        row.push(value);
        best = Math.min(best, value);
      }
      if (best > limit) return limit + 1;
      before = previous;
      previous = row;
    }
    return previous[b.length];
  }

  // How well a typed word fits a name: 0 starts it, 1 starts one of its words, 2+ a typo; null: no fit.
  function fit(typed, entry) {
    if (entry.key === typed) return null; // already typed in full
    if (entry.key.startsWith(typed)) return 0;
    if (entry.words.some((w) => w.startsWith(typed))) return 1;
    if (typed.length < 5) return null;
    const limit = typed.length >= 8 ? 2 : 1;
    let best = limit + 1;
    for (const w of [entry.key, ...entry.words]) {
      // a typo anywhere in what was typed so far: against the name's start a letter shorter, as long, or longer
      for (let n = typed.length - 1; n <= typed.length + 1; n += 1) {
        if (n >= 3 && n <= w.length) best = Math.min(best, distance(typed, w.slice(0, n), limit));
      }
      best = Math.min(best, distance(typed, w, limit));
    }
    return best <= limit ? 2 + best : null;
  }

  function currentWord() {
    const caret = input.selectionStart;
    if (caret === null || caret !== input.selectionEnd) return null;
    const before = input.value.slice(0, caret);
    const found = /[\p{L}\p{N}][\p{L}\p{N}-]*$/u.exec(before);
    if (!found || /^[\p{L}\p{N}]/u.test(input.value.slice(caret))) return null;
    return { start: caret - found[0].length, end: caret, text: found[0] };
  }

  function updateNames() {
    word = currentWord();
    const typed = word ? normalise(word.text) : "";
    if (!names || typed.length < 3) {
      if (!names && typed.length >= 3) loadNames();
      closeNames();
      return;
    }
    const fits = [];
    for (const entry of names) {
      const score = fit(typed, entry);
      if (score !== null) fits.push({ entry: entry, score: score });
    }
    fits.sort((a, b) => a.score - b.score || a.entry.key.length - b.entry.key.length || a.entry.key.localeCompare(b.entry.key));
    showNames(fits.slice(0, 6).map((f) => f.entry));
  }

  function showNames(entries) {
    nameOptions = entries;
    active = -1;
    namesList.replaceChildren();
    entries.forEach((entry, i) => {
      const option = el("li", "", entry.name);
      option.id = "drug-name-" + i;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      if (normalise(entry.name) !== normalise(entry.title)) option.appendChild(el("span", "of", " · " + entry.title));
      // mousedown, not click: the input keeps the focus, so the list does not close first
      option.addEventListener("mousedown", (event) => {
        event.preventDefault();
        takeName(i);
      });
      namesList.appendChild(option);
    });
    const open = entries.length > 0;
    namesList.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
    input.removeAttribute("aria-activedescendant");
    namesStatus.textContent = open ? entries.length + (entries.length === 1 ? " drug name" : " drug names") + " suggested" : "";
  }

  function closeNames() {
    if (namesList.hidden && !nameOptions.length) return;
    nameOptions = [];
    active = -1;
    namesList.hidden = true;
    namesList.replaceChildren();
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    namesStatus.textContent = "";
  }

  function highlightName(i) {
    active = i;
    namesList.querySelectorAll("[role=option]").forEach((option, j) => {
      option.setAttribute("aria-selected", String(j === i));
      if (j === i) option.scrollIntoView({ block: "nearest" });
    });
    input.setAttribute("aria-activedescendant", "drug-name-" + i);
  }

  function takeName(i) {
    const entry = nameOptions[i];
    if (!entry || !word) return;
    const after = input.value.slice(word.end);
    const spacer = /^\s/.test(after) ? "" : " ";
    input.value = input.value.slice(0, word.start) + entry.name + spacer + after;
    const caret = word.start + entry.name.length + spacer.length;
    input.setSelectionRange(caret, caret);
    closeNames();
    input.focus();
  }

  input.addEventListener("input", updateNames);
  input.addEventListener("focus", loadNames, { once: true });
  input.addEventListener("blur", closeNames);
  input.addEventListener("keydown", (event) => {
    const open = !namesList.hidden && nameOptions.length > 0;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!open) {
        updateNames();
        if (namesList.hidden) return;
      }
      event.preventDefault();
      const n = nameOptions.length;
      highlightName(event.key === "ArrowDown" ? (active + 1) % n : active <= 0 ? n - 1 : active - 1);
    } else if (event.key === "Enter" && open && active >= 0) {
      event.preventDefault(); // takes the name; a second Enter sends the question
      takeName(active);
    } else if (event.key === "Escape" && open) {
      event.preventDefault();
      closeNames();
    } else if (event.key === "Tab") {
      closeNames();
    }
  });

  // ---- a link that reopens a question: /?q=...&drug=... ---------------------------------

  const params = new URLSearchParams(window.location.search);
  const shared = (params.get("q") || "").trim();
  if (shared) {
    const drug = params.get("drug");
    // asked once: a reload or a back button does not ask it again
    window.history.replaceState(null, "", window.location.pathname);
    ask(shared.slice(0, 1000), false, { fresh: true, drug: drug && /^[a-z0-9-]{1,80}$/.test(drug) ? drug : undefined });
  }
})();
