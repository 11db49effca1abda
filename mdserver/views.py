"""Jobs over the API: a user lists and polls their own jobs."""

from rest_framework import mixins, viewsets

from accounts.ownership import owned_by
from mdserver.models import Job
from mdserver.serializers import JobSerializer


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = JobSerializer
    ordering = "-created_at"

    def get_queryset(self):
        return owned_by(Job.objects.all(), self.request.user)
