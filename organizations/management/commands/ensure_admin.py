import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the admin superuser if there is none. The password is ADMIN_PASSWORD from "
        "the environment, or generated and printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME", "admin"))
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")

    def handle(self, *args, username, url, **options):
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(
                f"Log in at {url} as '{username}' (existing user; password unchanged. "
                f"Reset it with: manage.py changepassword {username})"
            )
            return
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        shown = "from ADMIN_PASSWORD" if os.environ.get("ADMIN_PASSWORD") else password
        self.stdout.write(self.style.SUCCESS(f"Created admin user '{username}'."))
        self.stdout.write(f"Log in at {url} as '{username}' with password: {shown}")
        self.stdout.write("This password is shown only once.")
