from django.contrib import admin

from mdserver.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "owner", "status", "progress", "attempts", "created_at", "finished_at")
    list_filter = ("status", "kind", "queue")
    search_fields = ("id", "kind", "message", "owner__username")
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ["requeue"]

    @admin.action(description="Run the selected unfinished jobs again")
    def requeue(self, request, queryset) -> None:
        from mdserver import jobs

        unfinished = queryset.exclude(status__in=Job.FINISHED)
        for job in unfinished:
            jobs.requeue(job)
        self.message_user(request, f"{unfinished.count()} job(s) sent again")
