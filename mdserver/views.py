"""Jobs over the API: a user lists and polls their own jobs; unknown API paths answer in JSON."""

from django.http import HttpRequest, JsonResponse
from rest_framework import mixins, viewsets

from accounts.ownership import owned_by
from mdserver.api import error_body
from mdserver.models import Job
from mdserver.serializers import JobSerializer


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = JobSerializer
    ordering = "-created_at"

    def get_queryset(self):
        return owned_by(Job.objects.all(), self.request.user)


def api_not_found(request: HttpRequest) -> JsonResponse:
    """Answer a path under the API that names no endpoint with the API's error body, not an HTML page."""
    message = f"no API endpoint at {request.path}"
    return JsonResponse(error_body("not_found", message, [{"field": "path", "message": message}]), status=404)
