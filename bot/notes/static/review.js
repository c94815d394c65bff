// The review page served by `sessionbot review`: remove / edit statements, save the reviewed version.
// Text is only ever set with textContent (never as markup); the page talks only to the server that
// served it (the Content-Security-Policy allows connect-src 'self' and nothing else).
(() => {
  "use strict";
  const status = document.getElementById("status");
  const saveButton = document.getElementById("save");
  const say = (text) => { status.textContent = text; };
  let saved = false;
  // Scripted, a click opens a statement's evidence until the next click: without this, the script-free
  // rule (evidence shown while the statement has focus) would fold it when a button is pressed, and
  // the page would move under the pointer between press and release.
  document.body.classList.add("scripted");

  const editor = (li) => li.querySelector(":scope > textarea");
  const textSpan = (li) => li.querySelector(":scope > .text");
  const draftText = (li) => { if (li.dataset.draft === undefined) li.dataset.draft = textSpan(li).textContent; return li.dataset.draft; };

  function finishEdit(li) {
    const box = editor(li);
    if (!box) return;
    const text = box.value.replace(/\s+/g, " ").trim();
    box.remove();
    textSpan(li).hidden = false;
    if (text && text !== draftText(li)) { textSpan(li).textContent = text; li.classList.add("edited"); }
    else { textSpan(li).textContent = draftText(li); li.classList.remove("edited"); }
    li.querySelector('button[data-act="edit"]').textContent = "Edit";
  }

  function startEdit(li) {
    draftText(li);
    li.classList.remove("removed");
    li.querySelector('button[data-act="remove"]').textContent = "Remove";
    const box = document.createElement("textarea");
    box.value = textSpan(li).textContent;
    box.setAttribute("aria-label", "Statement text");
    textSpan(li).hidden = true;
    textSpan(li).after(box);
    li.querySelector('button[data-act="edit"]').textContent = "Done";
    box.focus();
  }

  document.querySelectorAll("li.statement").forEach((li) => {
    li.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (button && li.contains(button)) {
        event.stopPropagation();
        if (saved) return;
        if (button.dataset.act === "remove") {
          finishEdit(li);
          const removed = li.classList.toggle("removed");
          button.textContent = removed ? "Restore" : "Remove";
        } else if (button.dataset.act === "edit") {
          if (editor(li)) finishEdit(li); else startEdit(li);
        }
        say("");
        return;
      }
      if (event.target.closest("a, textarea, .evidence")) return;
      li.classList.toggle("open");
    });
  });

  function decisions() {
    const found = {};
    document.querySelectorAll("li.statement").forEach((li) => {
      finishEdit(li);
      if (li.classList.contains("removed")) found[li.dataset.id] = {action: "remove"};
      else if (li.classList.contains("edited")) found[li.dataset.id] = {action: "edit", text: textSpan(li).textContent};
      else found[li.dataset.id] = {action: "keep"};
    });
    return found;
  }

  saveButton.addEventListener("click", async () => {
    if (saved) return;
    saveButton.disabled = true;
    say("Saving\u2026");
    try {
      const response = await fetch(saveButton.dataset.url, {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({decisions: decisions()}), cache: "no-store", credentials: "omit",
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
      saved = true;
      document.body.dataset.saved = "1";
      say(`Saved: ${answer.saved.join(", ")}. The review server has stopped; you can close this page.`);
    } catch (error) {
      saveButton.disabled = false;
      say(`Not saved: ${error.message}. Your changes are still on this page; try again.`);
    }
  });
})();
