from django.urls import path

from api import views

urlpatterns = [
    path("tokens/", views.tokens, name="api_tokens"),
    path("tokens/new/", views.token_new, name="api_token_new"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke_view, name="api_token_revoke"),
]
