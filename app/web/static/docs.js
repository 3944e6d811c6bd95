// Starts Swagger UI on /docs (a file of its own: the CSP allows no inline script).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("swagger-ui");
    root.textContent = "";
    window.ui = SwaggerUIBundle({
      url: root.getAttribute("data-spec"),
      domNode: root,
      deepLinking: true,
      persistAuthorization: false,
      tryItOutEnabled: false
    });
  });
})();
