from django.urls import path

from labeling import views, views_quality

urlpatterns = [
    path("", views.home, name="home"),
    path("p/<slug:slug>/label/", views.label, name="label"),
    path("p/<slug:slug>/label/submit/", views.label_submit, name="label_submit"),
    path("p/<slug:slug>/label/skip/", views.label_skip, name="label_skip"),
    path("p/<slug:slug>/manage/", views.manage, name="manage"),
    path("p/<slug:slug>/selection/", views.selection_update, name="selection_update"),
    path("p/<slug:slug>/import/", views.import_upload, name="import_upload"),
    path("p/<slug:slug>/export/", views.export_download, name="export_download"),
    path("p/<slug:slug>/quality/", views_quality.quality, name="quality"),
    path("p/<slug:slug>/quality/exclude/", views_quality.quality_exclude, name="quality_exclude"),
    path("p/<slug:slug>/quality/include/", views_quality.quality_include, name="quality_include"),
]
