from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from api import views_webhooks
from api.main import api, not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    re_path(r"^api/(?P<path>.*)$", not_found),
    path("account/", include("api.urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("p/<slug:slug>/training/", include("training.urls")),
    path("p/<slug:slug>/webhooks/", views_webhooks.webhooks, name="webhooks"),
    path(
        "p/<slug:slug>/webhooks/<int:webhook_id>/delete/",
        views_webhooks.webhook_delete_view,
        name="webhook_delete",
    ),
    path("", include("labeling.urls")),
]
