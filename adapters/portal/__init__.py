"""The town portal's backend: submits applications on behalf of logged-in citizens."""
