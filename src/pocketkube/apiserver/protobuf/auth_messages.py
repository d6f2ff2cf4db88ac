"""Message tables of authentication and authorization (notation: see schema.py).

Only what a client sends is listed: the status halves of reviews are the server's to fill in.
"""

MESSAGES: dict[str, str] = {
    "TokenRequest": "1=metadata:ObjectMeta 2=spec:TokenRequestSpec",
    "TokenRequestSpec": (
        "1=audiences:[]string 4=expirationSeconds:int? 3=boundObjectRef:BoundObjectReference"
    ),
    "BoundObjectReference": "1=kind 2=apiVersion 3=name 4=uid",
    "SelfSubjectReview": "1=metadata:ObjectMeta",
    "SelfSubjectAccessReview": "1=metadata:ObjectMeta 2=spec:SelfSubjectAccessReviewSpec",
    "SelfSubjectAccessReviewSpec": (
        "1=resourceAttributes:ResourceAttributes 2=nonResourceAttributes:NonResourceAttributes"
    ),
    "ResourceAttributes": (
        "1=namespace 2=verb 3=group 4=version 5=resource 6=subresource 7=name"
        " 8=fieldSelector:FieldSelectorAttributes 9=labelSelector:LabelSelectorAttributes"
    ),
    "NonResourceAttributes": "1=path 2=verb",
    "FieldSelectorAttributes": "1=rawSelector 2=requirements:[]FieldSelectorRequirement",
    "LabelSelectorAttributes": "1=rawSelector 2=requirements:[]LabelSelectorRequirement",
    "SelfSubjectRulesReview": "1=metadata:ObjectMeta 2=spec:SelfSubjectRulesReviewSpec",
    "SelfSubjectRulesReviewSpec": "1=namespace",
}
