// The ops page, enhanced: duration charts (uPlot, served from our static files),
// "Run now" answered at once with the run's progress in a status toast, and an
// auto-refresh that swaps the page's content in place, so the reader keeps
// their scroll position. Without JavaScript the page still works: the forms
// post and redirect, and the "Refresh" link reloads.
(function () {
  "use strict";
  var REFRESH_MS = 30000;
  var POLL_MS = 1000;
  var charts = [];
  var busy = 0; // runs being watched: no refresh swaps the page under them

  function msText(ms) {
    if (ms == null) return "";
    return ms >= 1000 ? (ms / 1000).toFixed(ms >= 10000 ? 1 : 2) + " s" : Math.round(ms) + " ms";
  }

  function drawBudget(budget) {
    return function (u) {
      if (!budget) return;
      var y = Math.round(u.valToPos(budget, "y", true));
      var ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#57606a";
      ctx.lineWidth = 1 * devicePixelRatio;
      ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.restore();
    };
  }

  function chart(el) {
    var source = document.getElementById(el.getAttribute("data-series"));
    if (!source || typeof uPlot === "undefined") return;
    var d = JSON.parse(source.textContent);
    if (!d.t.length) {
      el.classList.add("chart-empty");
      return;
    }
    var budget = d.budget_ms;
    var points = function (colour, size) {
      return { show: true, size: size, fill: colour, stroke: colour };
    };
    var opts = {
      width: el.clientWidth,
      height: 170,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: {
        x: { time: true },
        y: {
          distr: 3,
          log: 10,
          range: function (u, min, max) {
            var lo = budget ? Math.min(min, budget) : min;
            var hi = budget ? Math.max(max, budget) : max;
            return uPlot.rangeLog(lo, hi, 10, true);
          }
        }
      },
      axes: [
        { stroke: "#57606a", grid: { stroke: "#e6e9ed" } },
        {
          stroke: "#57606a", grid: { stroke: "#e6e9ed" }, size: 58,
          values: function (u, vals) { return vals.map(msText); }
        }
      ],
      series: [
        { value: "{YYYY}-{MM}-{DD} {HH}:{mm}:{ss} UTC" },
        { label: "passed", stroke: "#1a7f37", paths: function () { return null; },
          points: points("#1a7f37", 5), value: function (u, v) { return msText(v); } },
        { label: "failed", stroke: "#b42318", paths: function () { return null; },
          points: points("#b42318", 8), value: function (u, v) { return msText(v); } }
      ],
      hooks: { draw: [drawBudget(budget)] }
    };
    el.textContent = "";
    charts.push({ el: el, plot: new uPlot(opts, [d.t, d.pass, d.fail], el) });
  }

  function drawCharts() {
    charts.forEach(function (c) { c.plot.destroy(); });
    charts = [];
    document.querySelectorAll(".chart[data-series]").forEach(chart);
  }

  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      charts.forEach(function (c) { c.plot.setSize({ width: c.el.clientWidth, height: 170 }); });
    }, 150);
  });

  // --- run now -------------------------------------------------------------------
  var toast = document.getElementById("run-feedback");

  function say(html) {
    toast.hidden = false;
    toast.innerHTML = html;
  }

  function escape(text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }

  function watch(asked, probe, button) {
    var started = Date.now();
    busy += 1;
    function poll() {
      fetch(asked.state_url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (answer) {
          var s = answer.body;
          if (!answer.ok) {
            finish("The run of " + escape(probe) + " was not recorded: " +
                   escape((s.error && s.error.message) || "unknown"));
          } else if (s.state === "done") {
            finish(escape(s.summary) + '. <a href="' + escape(s.url) + '">View the run</a>');
            refresh();
          } else {
            var secs = Math.round((Date.now() - started) / 1000);
            say(escape(probe) + ": " + escape(s.state) + "… " + secs + " s. " +
                '<a href="' + escape(asked.url) + '">Watch the run</a>');
            setTimeout(poll, POLL_MS);
          }
        })
        .catch(function () { setTimeout(poll, POLL_MS * 3); });
    }
    function finish(html) {
      busy -= 1;
      button.disabled = false;
      say(html);
    }
    poll();
  }

  function enhanceForms(root) {
    root.querySelectorAll("form.run-now").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var button = form.querySelector("button");
        var probe = form.getAttribute("data-probe");
        button.disabled = true;
        say("Asking for a run of " + escape(probe) + "…");
        fetch(form.action, {
          method: "POST", body: new FormData(form), credentials: "same-origin",
          headers: { Accept: "application/json" }
        })
          .then(function (r) {
            if (r.status !== 202) throw new Error("the server answered " + r.status);
            return r.json();
          })
          .then(function (asked) { watch(asked, probe, button); })
          .catch(function (err) {
            button.disabled = false;
            say("Could not ask for a run: " + escape(err.message));
          });
      });
    });
  }

  // --- refresh in place ------------------------------------------------------------
  var auto = document.getElementById("auto-refresh");

  function refresh() {
    var x = window.scrollX, y = window.scrollY;
    return fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error(String(r.status));
        return r.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        ["ops-live", "refreshed"].forEach(function (id) {
          var now = document.getElementById(id), next = fresh.getElementById(id);
          if (now && next) now.innerHTML = next.innerHTML;
        });
        drawCharts();
        enhanceForms(document.getElementById("ops-live"));
        window.scrollTo(x, y);
        document.dispatchEvent(new CustomEvent("summit:refreshed"));
      })
      .catch(function () { /* the next tick tries again; the page stays as it was */ });
  }

  function tick() {
    if (auto.checked && !document.hidden && busy === 0) refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    enhanceForms(document);
    document.getElementById("auto-refresh-control").hidden = false;
    try { auto.checked = localStorage.getItem("summit.ops.autorefresh") !== "off"; } catch (e) { /* private mode */ }
    auto.addEventListener("change", function () {
      try { localStorage.setItem("summit.ops.autorefresh", auto.checked ? "on" : "off"); } catch (e) { /* ignore */ }
    });
    setInterval(tick, REFRESH_MS);
    // Refresh now, on request (the browser tests use it rather than wait 30 s).
    document.addEventListener("summit:refresh", function () { refresh(); });
  });
})();
