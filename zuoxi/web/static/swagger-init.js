// Swagger UI for /docs (a static file: the Content-Security-Policy allows no inline script).
// Requests made from "Try it out" carry the session's CSRF token, as the pages' own do.
window.ui = SwaggerUIBundle({
  url: '/openapi.json', dom_id: '#swagger-ui', layout: 'BaseLayout', deepLinking: true,
  showExtensions: true, showCommonExtensions: true, validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  requestInterceptor: request => {
    request.headers['X-CSRF-Token'] = document.querySelector('meta[name=csrf-token]').content;
    return request;
  },
});
