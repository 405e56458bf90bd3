/* fakescope service page: upload (drop, paste, pick), the verdict, the history. No dependencies; every
   value from the server is put in the page as text (textContent), never as HTML. */
(function () {
  "use strict";
  var KEY = "fakescope.apiKey";
  var $ = function (id) { return document.getElementById(id); };
  var state = { auth: false, offset: 0, previewUrl: null };

  function key() { try { return sessionStorage.getItem(KEY) || ""; } catch (e) { return ""; } }
  function headers() { var h = {}; var k = key(); if (k) { h["Authorization"] = "Bearer " + k; } return h; }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) { Object.keys(attrs).forEach(function (a) { e.setAttribute(a, attrs[a]); }); }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function fmt(p) { return (p === null || p === undefined) ? "–" : Number(p).toFixed(3); }
  function cls(label) { return label === "ai-generated" ? "ai" : label === "real" ? "real" : label === "inconclusive" ? "inc" : "other"; }
  function setStatus(text, error) { var s = $("status"); s.textContent = text; s.className = "status" + (error ? " error" : ""); }

  function problemText(resp, body) {
    if (body && body.detail) { return body.title ? body.title + ": " + body.detail : body.detail; }
    return "HTTP " + resp.status;
  }
  function api(path, options) {
    options = options || {};
    options.headers = Object.assign(headers(), options.headers || {});
    return fetch(path, options).then(function (resp) {
      return resp.text().then(function (t) {
        var body = null; try { body = t ? JSON.parse(t) : null; } catch (e) { body = null; }
        if (!resp.ok) {
          if (resp.status === 401 && state.auth) { $("keyform").hidden = false; $("apikey").focus(); }
          var err = new Error(problemText(resp, body)); err.status = resp.status; throw err;
        }
        return body;
      });
    });
  }

  /* ---------------------------------------------------------------- the verdict */
  function arc(p) {
    var a = Math.PI * (1 - Math.max(0, Math.min(1, p)));
    return [100 + 80 * Math.cos(a), 100 - 80 * Math.sin(a)];
  }
  function drawGauge(p, thr, label) {
    var end = arc(p || 0);
    $("gauge-fill").setAttribute("d", "M 20 100 A 80 80 0 0 1 " + end[0].toFixed(2) + " " + end[1].toFixed(2));
    $("gauge-fill").setAttribute("class", "fill " + cls(label));
    $("gauge-text").textContent = fmt(p);
    if (thr !== null && thr !== undefined) {
      var t = arc(thr), inner = [100 + (t[0] - 100) * 0.72, 100 + (t[1] - 100) * 0.72];
      var g = $("gauge-thr");
      g.setAttribute("x1", inner[0].toFixed(2)); g.setAttribute("y1", inner[1].toFixed(2));
      g.setAttribute("x2", (100 + (t[0] - 100) * 1.12).toFixed(2)); g.setAttribute("y2", (100 + (t[1] - 100) * 1.12).toFixed(2));
      g.style.display = "";
    } else { $("gauge-thr").style.display = "none"; }
    $("gauge-title").textContent = "probability that the file is AI-generated: " + fmt(p) +
      (thr !== null && thr !== undefined ? ", threshold " + fmt(thr) : "");
  }
  function kvList(obj, depth) {
    var dl = el("dl", { "class": "kv" });
    Object.keys(obj).forEach(function (k) {
      var v = obj[k];
      if (v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0)) { return; }
      dl.appendChild(el("dt", null, k.replace(/_/g, " ")));
      var dd = el("dd");
      if (typeof v === "object" && depth < 3) {
        if (Array.isArray(v) && v.every(function (x) { return typeof x !== "object"; })) { dd.textContent = v.join(", "); }
        else if (Array.isArray(v)) { v.forEach(function (x) { dd.appendChild(typeof x === "object" ? kvList(x, depth + 1) : el("div", null, x)); }); }
        else { dd.appendChild(kvList(v, depth + 1)); }
      } else { dd.textContent = typeof v === "object" ? JSON.stringify(v) : String(v); }
      dl.appendChild(dd);
    });
    return dl;
  }
  var SVG = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (a) { e.setAttribute(a, String(attrs[a])); });
    if (text !== undefined) { e.textContent = String(text); }
    return e;
  }
  function seek(t) { var pv = $("preview-video"); if (!pv.hidden) { try { pv.currentTime = t; } catch (e) { /* not seekable yet */ } } }
  /* a video's verdict: the sampled frames' p_fake over time, the segments, and a table of the segments */
  function showVideo(v) {
    var panel = $("video-panel");
    panel.hidden = v.media !== "video";
    if (panel.hidden) { return; }
    var frames = v.frames || [], segs = v.segments || [], W = 600, H = 70;
    var last = frames.length ? frames[frames.length - 1].t_s : 0;
    var dur = Math.max(Number(v.duration_s) || 0, last, 1e-6);
    var x = function (t) { return (Math.max(0, Math.min(dur, t)) / dur * W).toFixed(1); };
    var y = function (p) { return (H - Math.max(0, Math.min(1, p)) * H).toFixed(1); };
    var g = $("tl-segments"); clear(g);
    segs.forEach(function (s) {
      var r = svgEl("rect", { "class": "tl-seg", x: x(s.start_s), y: 0, width: Math.max(1, x(s.end_s) - x(s.start_s)), height: H });
      r.appendChild(svgEl("title", {}, s.start_s + "–" + s.end_s + " s: mean p(AI) " + fmt(s.score)));
      g.appendChild(r);
    });
    $("tl-frames").setAttribute("points", frames.map(function (f) { return x(f.t_s) + "," + y(f.p_fake); }).join(" "));
    var thr = $("tl-thr");
    if (v.threshold !== null && v.threshold !== undefined) { thr.setAttribute("y1", y(v.threshold)); thr.setAttribute("y2", y(v.threshold)); thr.style.display = ""; }
    else { thr.style.display = "none"; }
    var ticks = $("tl-ticks"); clear(ticks);
    var step = dur > 120 ? 30 : dur > 30 ? 10 : dur > 8 ? 2 : 1;
    for (var t = 0; t <= dur + 1e-9; t += step) {
      ticks.appendChild(svgEl("text", { x: x(t), y: H + 16, "class": "tl-tick", "text-anchor": t === 0 ? "start" : "middle" }, t + " s"));
    }
    var info = v.video || {};
    $("video-facts").textContent = [
      (Number(v.duration_s) || 0).toFixed(1) + " s", v.fps ? Number(v.fps).toFixed(3).replace(/\.?0+$/, "") + " fps" : null,
      info.codec ? info.codec : null, (info.sampled_frames !== undefined ? info.sampled_frames + " frames analysed" : null) +
        (info.sampling ? " (" + info.sampling + ")" : ""),
      info.has_audio ? "audio present (not analysed)" : "no audio",
      segs.length ? segs.length + " segment" + (segs.length === 1 ? "" : "s") + " look generated" : "no stretch of frames looks generated"
    ].filter(function (s) { return s; }).join(" · ");
    var tb = $("segments").tBodies[0]; clear(tb);
    if (!segs.length) {
      var tr0 = el("tr"); tr0.appendChild(el("td", { colspan: "3" }, "none: no stretch of frames looks generated")); tb.appendChild(tr0);
    }
    segs.forEach(function (s) {
      var tr = el("tr", { tabindex: "0", "data-start": s.start_s, "data-end": s.end_s });
      tr.appendChild(el("td", { "class": "num" }, Number(s.start_s).toFixed(2)));
      tr.appendChild(el("td", { "class": "num" }, Number(s.end_s).toFixed(2)));
      tr.appendChild(el("td", { "class": "num" }, fmt(s.score)));
      tr.addEventListener("click", function () { seek(s.start_s); });
      tr.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); seek(s.start_s); } });
      tb.appendChild(tr);
    });
  }
  function showVerdict(v, mediaUrl, isVideo) {
    $("result").hidden = false;
    $("vname").textContent = v.path || "";
    var pv = $("preview-video");
    if (mediaUrl && isVideo) { pv.src = mediaUrl; pv.hidden = false; $("preview").hidden = true; }
    else if (mediaUrl) { $("preview").src = mediaUrl; $("preview").hidden = false; pv.hidden = true; pv.removeAttribute("src"); }
    else { $("preview").hidden = true; pv.hidden = true; pv.removeAttribute("src"); }
    showVideo(v);
    var lab = $("verdict-label");
    lab.textContent = v.label || v.status; lab.className = "badge " + cls(v.label);
    $("verdict-p").textContent = fmt(v.p_fake);
    $("verdict-thr").textContent = fmt(v.threshold);
    $("verdict-fpr").textContent = v.operating_fpr !== undefined && v.operating_fpr !== null ? (v.operating_fpr * 100) + "%" : "–";
    drawGauge(v.p_fake, v.threshold, v.label);
    $("explanation").textContent = v.explanation || "";
    $("generator").textContent = v.generator ? "likely generator: " + v.generator.name + " (" + v.generator.family +
      ", confidence " + fmt(v.generator.confidence) + ")" : "";
    var notice = $("notice"); clear(notice); notice.hidden = true;
    if (v.cached) { notice.appendChild(el("span", null, "These exact bytes were scanned before: the stored verdict is shown (not scored again). ")); notice.hidden = false; }
    if (v.seen_before) {
      notice.appendChild(el("span", null, "Seen before: a resized or re-encoded copy of an earlier image (" +
        (v.seen_before.name || v.seen_before.sha256.slice(0, 12)) + ", " + v.seen_before.distance + " bits apart) — "));
      var a = el("a", { href: v.seen_before.url, "data-sha": v.seen_before.sha256, id: "seen-link" }, "its verdict");
      a.addEventListener("click", function (e) { e.preventDefault(); loadResult(v.seen_before.sha256); });
      notice.appendChild(a); notice.hidden = false;
    }
    var facts = $("facts"); clear(facts);
    [["sha256", v.sha256], ["size", v.width && v.height ? v.width + " × " + v.height : null], ["format", v.format],
     ["duration", v.media === "video" && v.duration_s !== undefined ? Number(v.duration_s).toFixed(2) + " s" : null],
     ["scanned in", v.elapsed_ms !== null && v.elapsed_ms !== undefined ? v.elapsed_ms + " ms" : null],
     ["stored", v.stored || null]].forEach(function (kv) {
      if (kv[1]) { facts.appendChild(el("dt", null, kv[0])); facts.appendChild(el("dd", { "class": kv[0] === "sha256" ? "hash" : "" }, kv[1])); }
    });
    var tb = $("evidence").tBodies[0]; clear(tb);
    var prov = $("provenance-panel"); clear(prov);
    (v.evidence || []).forEach(function (e) {
      var tr = el("tr", { "data-source": e.source });
      tr.appendChild(el("td", null, e.source)); tr.appendChild(el("td", null, e.kind));
      tr.appendChild(el("td", { "class": "num" }, fmt(e.score))); tr.appendChild(el("td", null, e.weight || ""));
      tr.appendChild(el("td", null, e.summary)); tb.appendChild(tr);
      if (e.kind === "provenance" || e.kind === "watermark") {
        var sec = el("section", { "data-source": e.source });
        sec.appendChild(el("h4", null, e.source + " — " + (e.weight || "")));
        sec.appendChild(el("p", null, e.summary));
        if (e.details) { sec.appendChild(kvList(e.details, 0)); }
        prov.appendChild(sec);
      }
    });
    if (!prov.firstChild) { prov.appendChild(el("p", { "class": "sub" }, provenanceOff ? "provenance was not read for this scan" : "the file says nothing about its origin")); }
    if (typeof v.heatmap === "string" && /^(\/|data:image\/png)/.test(v.heatmap)) { $("heatmap-img").src = v.heatmap; $("heatmap").hidden = false; }
    else { $("heatmap").hidden = true; }
    $("result-h").focus();
  }
  var provenanceOff = false;

  function scanFile(file) {
    if (!file) { return; }
    var fd = new FormData();
    fd.append("file", file, file.name || "pasted-file");
    var isVideo = /^video\//.test(file.type || "") || /\.(mp4|mov|webm|mkv|avi)$/i.test(file.name || "");
    fd.append("fpr", $("fpr").value);
    provenanceOff = !$("provenance").checked;
    fd.append("provenance", $("provenance").checked ? "true" : "false");
    setStatus("scanning " + (file.name || "the pasted file") + (isVideo ? " (a video: every sampled frame is analysed)" : "") + "…");
    if (state.previewUrl) { URL.revokeObjectURL(state.previewUrl); }
    state.previewUrl = URL.createObjectURL(file);
    return api("/v1/scan", { method: "POST", body: fd }).then(function (v) {
      setStatus("scanned " + (v.path || "") + ": " + v.label + (v.cached ? " (from the database)" : ""));
      showVerdict(v, state.previewUrl, isVideo || v.media === "video");
      loadHistory(true);
    }).catch(function (e) { setStatus(e.message, true); });
  }
  function loadResult(sha) {
    return api("/v1/results/" + encodeURIComponent(sha)).then(function (v) {
      setStatus("stored verdict of " + (v.path || sha));
      provenanceOff = v.scan_key && v.scan_key.indexOf("provenance=0") >= 0;
      showVerdict(v, null);
    }).catch(function (e) { setStatus(e.message, true); });
  }

  /* ---------------------------------------------------------------- history */
  function loadHistory(reset) {
    // overlapping loads (two uploads in quick succession) must not both fill the table: only the newest
    // request's answer is shown, and a reset clears the rows when that answer arrives
    var seq = state.histSeq = (state.histSeq || 0) + 1;
    var offset = reset ? 0 : state.offset;
    var q = $("q").value.trim(), label = $("label-filter").value;
    var url = "/v1/results?limit=25&offset=" + offset + (q ? "&q=" + encodeURIComponent(q) : "") +
      (label ? "&label=" + encodeURIComponent(label) : "");
    return api(url).then(function (page) {
      if (seq !== state.histSeq) { return; }  // a newer load superseded this one
      var tb = $("history").tBodies[0];
      if (reset) { clear(tb); }
      page.items.forEach(function (it) {
        var tr = el("tr", { tabindex: "0", "data-sha": it.sha256, "data-label": it.label || "" });
        tr.appendChild(el("td", { "class": "path" }, it.name || ""));
        var b = el("span", { "class": "badge " + cls(it.label) }, it.label); var td = el("td"); td.appendChild(b); tr.appendChild(td);
        tr.appendChild(el("td", { "class": "num" }, fmt(it.p_fake)));
        tr.appendChild(el("td", { "class": "num" }, (it.created || "").replace("T", " ").replace(/\..*$/, "").replace("Z", "")));
        tr.appendChild(el("td", { "class": "hash" }, it.sha256.slice(0, 16) + "…"));
        var open = function () { loadResult(it.sha256); };
        tr.addEventListener("click", open);
        tr.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } });
        tb.appendChild(tr);
      });
      state.offset = offset + page.items.length;
      $("hist-count").textContent = page.total + " scan" + (page.total === 1 ? "" : "s") + (q || label ? " match" : " stored");
      $("more").hidden = page.next_offset === null;
    }).catch(function (e) { $("hist-count").textContent = e.message; });
  }

  /* ---------------------------------------------------------------- wiring */
  function init() {
    var drop = $("drop"), input = $("file");
    var pick = function () { input.click(); };
    drop.addEventListener("click", pick);
    drop.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
    $("choose").addEventListener("click", pick);
    input.addEventListener("change", function () { if (input.files.length) { scanFile(input.files[0]); input.value = ""; } });
    ["dragenter", "dragover"].forEach(function (t) { drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add("over"); }); });
    ["dragleave", "drop"].forEach(function (t) { drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.remove("over"); }); });
    drop.addEventListener("drop", function (e) { if (e.dataTransfer && e.dataTransfer.files.length) { scanFile(e.dataTransfer.files[0]); } });
    document.addEventListener("paste", function (e) {
      var items = (e.clipboardData && e.clipboardData.items) || [];
      for (var i = 0; i < items.length; i++) {
        if (items[i].kind === "file") { e.preventDefault(); scanFile(items[i].getAsFile()); return; }
      }
    });
    $("histform").addEventListener("submit", function (e) { e.preventDefault(); loadHistory(true); });
    $("label-filter").addEventListener("change", function () { loadHistory(true); });
    $("more").addEventListener("click", function () { loadHistory(false); });
    $("keyform").addEventListener("submit", function (e) {
      e.preventDefault();
      try { sessionStorage.setItem(KEY, $("apikey").value.trim()); } catch (err) { /* storage off: nothing kept */ }
      $("apikey").value = ""; setStatus("key set for this tab"); loadHistory(true);
    });
    $("forgetkey").addEventListener("click", function () {
      try { sessionStorage.removeItem(KEY); } catch (err) { /* nothing kept */ }
      setStatus("key forgotten"); clear($("history").tBodies[0]);
    });
    fetch("/healthz").then(function (r) { return r.json(); }).then(function (h) {
      state.auth = !!h.auth; $("version").textContent = h.version || "";
      $("keyform").hidden = !state.auth;
      if (!state.auth || key()) { loadHistory(true); } else { $("hist-count").textContent = "enter an API key to see the history"; }
    }).catch(function () { setStatus("the server cannot be reached", true); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
