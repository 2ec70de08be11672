from django.urls import path

from training import views, views_arena, views_generation, views_simulation

# Included under p/<slug:slug>/training/ by prefapp/urls.py.
urlpatterns = [
    path("", views.overview, name="training_overview"),
    path("schedule/", views.schedule_update, name="training_schedule"),
    # Before the kinds' run form: a generation job has its own form (the kind "generate").
    path("new/generate/", views_generation.generation_new, name="training_generate"),
    path("new/<str:kind>/", views.run_new, name="training_new"),
    path("score/", views.scoring_new, name="training_score"),
    path("runs/", views.run_list, name="training_runs"),
    path("runs/compare/", views.run_compare, name="training_compare"),
    path("runs/<int:run_id>/", views.run_detail, name="training_run"),
    path("runs/<int:run_id>/poll/", views.run_poll, name="training_run_poll"),
    path("runs/<int:run_id>/cancel/", views.run_cancel_view, name="training_run_cancel"),
    path("rounds/", views.rounds, name="training_rounds"),
    path("rounds/settings/", views.loop_settings, name="training_loop_settings"),
    path("rounds/next/", views.round_next, name="training_round_next"),
    path("rounds/resume/", views.round_resume, name="training_round_resume"),
    path("rounds/simulate/", views_simulation.simulation_start, name="training_simulate"),
    path("arena/", views_arena.arena_page, name="training_arena"),
    path("arena/settings/", views_arena.arena_settings, name="training_arena_settings"),
    path("arena/contenders/", views_arena.arena_contender_new, name="training_arena_contender"),
    path("arena/generate/", views_arena.arena_generate_view, name="training_arena_generate"),
    path("arena/fit/", views_arena.arena_fit_view, name="training_arena_fit"),
    path("arena/leaderboard.csv", views_arena.arena_leaderboard_csv, name="training_arena_csv"),
    path("arena/leaderboard.json", views_arena.arena_leaderboard_json, name="training_arena_json"),
    path("arena/battles.jsonl", views_arena.arena_battles_export, name="training_arena_battles"),
    path("artifacts/", views.artifact_list, name="training_artifacts"),
    path(
        "artifacts/<int:artifact_id>/make-current/",
        views.artifact_current_view,
        name="training_artifact_current",
    ),
    path(
        "artifacts/<int:artifact_id>/download/",
        views.artifact_download,
        name="training_artifact_download",
    ),
    path("artifacts/<int:artifact_id>/try/", views.artifact_try, name="training_artifact_try"),
]
