from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from labeling.media import MediaFileView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("labeling.api_urls")),
    path("api/v1/", include("evaluation.api_urls")),
    path("", include("frontend.urls")),
    # Media only to signed-in users who may see each file (labeling/media.py); the web server sends
    # the bytes in production (MEDIA_SERVE_MODE), Django on the embedded default.
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", MediaFileView.as_view(), name="media"),
]
