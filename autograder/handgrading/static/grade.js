// The grading page's keyboard and autosave. Served from this server only (the page's
// Content-Security-Policy allows no inline script). Every change is sent at once; the server
// answers with the grade as stored, which is what the page then shows.
"use strict";

(function () {
  const token = document.querySelector("meta[name=grading-token]").content;
  const body = document.body;
  const message = document.getElementById("message");

  function show(text, isError) {
    if (!message) return;
    message.textContent = text;
    message.hidden = !text;
    message.classList.toggle("error", Boolean(isError));
  }

  async function call(url, data, method) {
    const response = await fetch(url, {
      method: method || "POST",
      headers: { "Content-Type": "application/json", "X-Grading-Token": token },
      body: method === "GET" ? undefined : JSON.stringify(data || {}),
      credentials: "same-origin",
    });
    let answer = {};
    try { answer = await response.json(); } catch (e) { answer = { error: response.statusText }; }
    if (!response.ok) {
      show(answer.error || "the server refused the change", true);
      throw new Error(answer.error || String(response.status));
    }
    return answer;
  }

  if (!body.classList.contains("grade")) return;

  const question = body.dataset.question;
  const position = body.dataset.position;
  const gradeUrl = "/api/q/" + encodeURIComponent(question) + "/" + position;
  const rubricUrl = "/api/rubric/" + encodeURIComponent(question);
  const comment = document.getElementById("comment");
  const adjustment = document.getElementById("adjustment");
  const saved = document.getElementById("saved");
  let pending = Promise.resolve();

  function showState(state) {
    document.getElementById("points").textContent =
      state.points === null ? "–" : String(+state.points.toFixed(4));
    const flag = document.getElementById("graded-flag");
    flag.textContent = state.graded ? "graded" : "not graded";
    flag.className = state.graded ? "done" : "todo";
    document.querySelectorAll("#rubric li.item").forEach((li) => {
      li.classList.toggle("applied", state.items.includes(Number(li.dataset.id)));
    });
    if (document.activeElement !== adjustment) adjustment.value = String(+state.adjustment.toFixed(4));
    const p = state.progress;
    document.getElementById("progress-text").textContent = p.graded + " / " + p.total + " graded";
    const bar = document.getElementById("progress-bar");
    bar.max = Math.max(p.total, 1);
    bar.value = p.graded;
    saved.textContent = "saved";
    show("");
  }

  function send(data) {
    saved.textContent = "saving…";
    pending = pending.then(() => call(gradeUrl, data)).then(showState).catch(() => {
      saved.textContent = "not saved";
    });
    return pending;
  }

  function toggle(id) { return send({ toggle: Number(id) }); }

  let commentTimer = null;
  let commentSent = comment.value;
  function saveComment() {
    clearTimeout(commentTimer);
    if (comment.value === commentSent) return pending;
    commentSent = comment.value;
    return send({ comment: comment.value });
  }
  comment.addEventListener("input", () => {
    clearTimeout(commentTimer);
    commentTimer = setTimeout(saveComment, 500);
  });
  comment.addEventListener("blur", saveComment);

  let adjustmentSent = adjustment.value;
  function saveAdjustment() {
    if (adjustment.value.trim() === adjustmentSent.trim()) return pending;
    adjustmentSent = adjustment.value;
    return send({ adjustment: adjustment.value.trim() || "0" });
  }
  adjustment.addEventListener("change", saveAdjustment);
  adjustment.addEventListener("keydown", (e) => { if (e.key === "Enter") adjustment.blur(); });

  async function go(url) {
    if (!url) return;
    await saveComment();
    await saveAdjustment();
    await pending;
    window.location.href = url;
  }

  document.querySelectorAll("#rubric button.apply").forEach((b) => {
    b.addEventListener("click", () => toggle(b.dataset.id));
  });

  async function editItem(id, data) {
    await pending;
    const answer = await call(rubricUrl + "/" + id, data);
    showState(await call(gradeUrl, null, "GET"));
    show(answer.affected + " student(s) re-scored with the changed item");
  }
  document.querySelectorAll("#rubric input.item-points").forEach((input) => {
    input.addEventListener("change", () => editItem(input.dataset.id, { points: input.value })
      .then(() => {
        const li = input.closest("li");
        li.querySelector(".pts").textContent = (Number(input.value) >= 0 ? "+" : "") + Number(input.value);
      }).catch(() => {}));
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") input.blur(); });
  });
  document.querySelectorAll("#rubric input.item-label").forEach((input) => {
    input.addEventListener("change", () => editItem(input.dataset.id, { label: input.value })
      .then(() => { input.closest("li").querySelector(".label").textContent = input.value; })
      .catch(() => {}));
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") input.blur(); });
  });
  document.querySelectorAll("#rubric button.delete").forEach((b) => {
    b.addEventListener("click", async () => {
      if (!window.confirm("Remove this item from the rubric and from every student who has it?")) return;
      await pending;
      await call(rubricUrl + "/" + b.dataset.id, { delete: true });
      window.location.reload();
    });
  });
  document.getElementById("new-item").addEventListener("submit", async (e) => {
    e.preventDefault();
    const label = document.getElementById("new-label").value.trim();
    const points = document.getElementById("new-points").value.trim();
    await pending;
    await call(rubricUrl, { label: label, points: points });
    window.location.reload();
  });

  document.getElementById("prev").addEventListener("click", () => go(body.dataset.prev));
  document.getElementById("next").addEventListener("click", () => go(body.dataset.next));
  document.getElementById("next-ungraded").addEventListener("click", () => go(body.dataset.nextUngraded));

  document.addEventListener("keydown", (e) => {
    const target = e.target;
    const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement;
    if (typing) {
      if (e.key === "Escape") target.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "ArrowRight" || e.key === "j") { e.preventDefault(); go(body.dataset.next); }
    else if (e.key === "ArrowLeft" || e.key === "k") { e.preventDefault(); go(body.dataset.prev); }
    else if (e.key === "u") { e.preventDefault(); go(body.dataset.nextUngraded); }
    else if (e.key === "c") { e.preventDefault(); comment.focus(); }
    else if (e.key === "a") { e.preventDefault(); adjustment.focus(); adjustment.select(); }
    else if (/^[1-9]$/.test(e.key)) {
      const item = document.querySelectorAll("#rubric li.item")[Number(e.key) - 1];
      if (item) { e.preventDefault(); toggle(item.dataset.id); }
    }
  });
})();
