// Starts Swagger UI on /api/docs (a file, so the page's Content-Security-Policy needs no inline script).
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  // validatorUrl null: no badge fetched from the public validator (the CSP would block it anyway).
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl, dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null,
  });
});
