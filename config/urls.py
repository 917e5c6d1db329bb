from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from labeling.media import MediaFileView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI from local static files (drf-spectacular-sidecar); the split view serves its init
    # script from /api/docs/?script= so the page has no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(
        url_name="api-schema", template_name="api_docs/swagger_ui.html"), name="api-docs"),
    path("api/v1/", include("labeling.api_urls")),
    path("api/v1/", include("evaluation.api_urls")),
    path("", include("frontend.urls")),
    # Media only to signed-in users who may see each file (labeling/media.py); the web server sends
    # the bytes in production (MEDIA_SERVE_MODE), Django on the embedded default.
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", MediaFileView.as_view(), name="media"),
]

# JSON in the API's error format under /api/, the site's HTML pages elsewhere (config/errors.py).
handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
