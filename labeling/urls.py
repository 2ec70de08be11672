from django.urls import path

from labeling import views

urlpatterns = [
    path("", views.home, name="home"),
    path("p/<slug:slug>/label/", views.label, name="label"),
    path("p/<slug:slug>/label/submit/", views.label_submit, name="label_submit"),
    path("p/<slug:slug>/label/skip/", views.label_skip, name="label_skip"),
    path("p/<slug:slug>/manage/", views.manage, name="manage"),
    path("p/<slug:slug>/import/", views.import_upload, name="import_upload"),
    path("p/<slug:slug>/export/", views.export_download, name="export_download"),
]
