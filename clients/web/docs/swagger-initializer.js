// Swagger UI for the OpenAPI document the gateway serves at /openapi.yaml (docs/openapi.yaml in the repo).
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
    validatorUrl: null, // no calls to swagger.io: the docs work offline
  });
};
