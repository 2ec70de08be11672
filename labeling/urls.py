from django.urls import path

from labeling import views, views_crowd, views_members, views_projects, views_quality

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/new/", views_projects.project_new, name="project_new"),
    path("invite/<str:token>/", views_members.invite, name="invite"),
    path("p/<slug:slug>/label/", views.label, name="label"),
    path("p/<slug:slug>/label/submit/", views.label_submit, name="label_submit"),
    path("p/<slug:slug>/label/skip/", views.label_skip, name="label_skip"),
    path("p/<slug:slug>/label/undo/", views.label_undo, name="label_undo"),
    path("p/<slug:slug>/label/extend/", views.label_extend, name="label_extend"),
    path("p/<slug:slug>/label/mine/", views.my_judgments, name="my_judgments"),
    path("p/<slug:slug>/manage/", views.manage, name="manage"),
    path("p/<slug:slug>/manage/progress/", views.manage_progress, name="manage_progress"),
    path("p/<slug:slug>/selection/", views.selection_update, name="selection_update"),
    path("p/<slug:slug>/import/", views.import_upload, name="import_upload"),
    path("p/<slug:slug>/export/", views.export_download, name="export_download"),
    path("p/<slug:slug>/quality/", views_quality.quality, name="quality"),
    path(
        "p/<slug:slug>/quality/exclude/preview/",
        views_quality.quality_exclude_preview,
        name="quality_exclude_preview",
    ),
    path("p/<slug:slug>/quality/exclude/", views_quality.quality_exclude, name="quality_exclude"),
    path("p/<slug:slug>/quality/include/", views_quality.quality_include, name="quality_include"),
    path("p/<slug:slug>/settings/", views_projects.project_settings, name="project_settings"),
    path(
        "p/<slug:slug>/settings/preview/",
        views_projects.instructions_preview,
        name="instructions_preview",
    ),
    path("p/<slug:slug>/archive/", views_projects.project_archive_view, name="project_archive"),
    path("p/<slug:slug>/delete/", views_projects.project_delete_view, name="project_delete"),
    path("p/<slug:slug>/audit/", views_projects.audit_log, name="audit_log"),
    path("p/<slug:slug>/members/", views_members.members, name="members"),
    path("p/<slug:slug>/members/add/", views_members.member_add, name="member_add"),
    path(
        "p/<slug:slug>/members/<int:membership_id>/role/",
        views_members.member_role,
        name="member_role",
    ),
    path(
        "p/<slug:slug>/members/<int:membership_id>/remove/",
        views_members.member_remove,
        name="member_remove",
    ),
    path("p/<slug:slug>/invites/", views_members.invite_new, name="invite_new"),
    path(
        "p/<slug:slug>/invites/<int:invite_id>/revoke/",
        views_members.invite_revoke_view,
        name="invite_revoke",
    ),
    path("study/<str:token>/", views_crowd.study_enter, name="study_enter"),
    path("p/<slug:slug>/study/done/", views_crowd.study_done, name="study_done"),
    path("p/<slug:slug>/participants/", views_crowd.participants, name="participants"),
    path("p/<slug:slug>/participants/study/", views_crowd.study_settings, name="study_settings"),
    path(
        "p/<slug:slug>/participants/export/",
        views_crowd.participants_export,
        name="participants_export",
    ),
    path(
        "p/<slug:slug>/quality/annotators/<int:user_id>/",
        views_quality.quality_annotator,
        name="quality_annotator",
    ),
    path(
        "p/<slug:slug>/quality/annotators/<int:user_id>/exclude/",
        views_quality.quality_exclude_one,
        name="quality_exclude_one",
    ),
]
