/* renders /openapi.json as text: operations, parameters, form fields, responses */
(function () {
  "use strict";
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) { e.className = cls; } if (text) { e.textContent = text; } return e; }
  function ref(spec, s) {
    if (s && s.$ref) { var parts = s.$ref.replace(/^#\//, "").split("/"); var o = spec; parts.forEach(function (p) { o = o && o[p]; }); return o || {}; }
    return s || {};
  }
  fetch("/openapi.json").then(function (r) { return r.json(); }).then(function (spec) {
    var main = document.getElementById("api");
    document.getElementById("desc").textContent = (spec.info.title || "") + " " + (spec.info.version || "") + " — " + (spec.info.description || "");
    Object.keys(spec.paths).forEach(function (path) {
      var ops = spec.paths[path];
      Object.keys(ops).forEach(function (method) {
        var op = ops[method], sec = el("section");
        sec.id = (method + path).replace(/[^a-z0-9]+/gi, "-");
        sec.appendChild(el("h2", null, method.toUpperCase() + " " + path));
        if (op.summary) { sec.appendChild(el("p", "muted", op.summary)); }
        if (op.description) { sec.appendChild(el("p", null, op.description)); }
        var rows = [];
        (op.parameters || []).forEach(function (p) { rows.push([p.name, p.in, (ref(spec, p.schema).type || ""), p.required ? "required" : "", p.description || ""]); });
        var body = op.requestBody && op.requestBody.content;
        if (body) {
          Object.keys(body).forEach(function (ct) {
            var sch = ref(spec, body[ct].schema), req = sch.required || [];
            Object.keys(sch.properties || {}).forEach(function (n) {
              var ps = sch.properties[n]; rows.push([n, ct, ps.type || (ps.anyOf ? "any" : ""), req.indexOf(n) >= 0 ? "required" : "", ps.description || ""]);
            });
          });
        }
        if (rows.length) {
          var t = el("table"), h = el("tr");
          ["name", "in", "type", "", "description"].forEach(function (c) { h.appendChild(el("th", null, c)); });
          t.appendChild(h);
          rows.forEach(function (r) { var tr = el("tr"); r.forEach(function (c) { tr.appendChild(el("td", null, String(c))); }); t.appendChild(tr); });
          sec.appendChild(t);
        }
        var resp = el("ul");
        Object.keys(op.responses || {}).forEach(function (code) { resp.appendChild(el("li", null, code + ": " + (op.responses[code].description || ""))); });
        sec.appendChild(resp);
        main.appendChild(sec);
      });
    });
  });
})();
