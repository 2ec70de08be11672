"""The HTTP answers for files a manager downloads: one shape for the pages and the API."""

from django.http import FileResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from labeling.formats.exports import ExportOptions
from labeling.models import Project
from labeling.selectors_export import export_empty_reason
from labeling.services.exporting import ExportDownload


def attachment(response: HttpResponseBase, filename: str) -> HttpResponseBase:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def export_response(download: ExportDownload) -> HttpResponseBase:
    """Text formats stream row by row; binary ones (Parquet, datasets) send their spooled file."""
    if download.pieces is not None:
        response: HttpResponseBase = StreamingHttpResponse(
            download.pieces, content_type=download.content_type
        )
    else:
        response = FileResponse(download.file, content_type=download.content_type)
    return attachment(response, download.filename)


def export_empty_text(*, project: Project, options: ExportOptions) -> str:
    """What a manager reads instead of an empty file."""
    reason = export_empty_reason(project=project, options=options)
    return f"No row matches this export, so no file was made. {reason}"
