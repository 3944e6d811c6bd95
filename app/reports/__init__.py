"""Report branding: each tenant's logo and footer, and the branded SLO and usage
reports (HTML and PDF) and subject-export cover that carry them."""
