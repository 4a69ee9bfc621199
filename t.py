import os, time
os.environ["HOME"]="/tmp/smoke"
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkworkspace.v2 import *
c=(WorkspaceClient.new_builder().with_credentials(BasicCredentials("AKTESTAKTESTAKTEST00","sktestsktestsktestsktestsktestsktestskte","0bec5db98280d2d02fd6c00c2de791ce")).with_endpoints(["http://127.0.0.1:18080"]).build())
print(c.list_products(ListProductsRequest()).products[0])
body=CreateDesktopReq(product_id="workspace.x86.general.xlarge2", image_id="63aa8670-27ad-4747-8c44-6d8919e785a7", image_type="gold", desktops=[Desktop(user_name="alice", computer_name="alice-pc")])
r=c.create_desktop(CreateDesktopRequest(body=body)); print(r)
time.sleep(0.5)
j=c.show_job(ShowJobRequest(job_id=r.job_id)); print(j.status, j.sub_jobs_total, j.sub_jobs[0].status)
ds=c.list_desktops_detail(ListDesktopsDetailRequest()); d=ds.desktops[0]; print(ds.total_count, d.status, d.task_status, d.login_status)
a=c.batch_run_desktops(BatchRunDesktopsRequest(body=BatchActionDesktopsReq(desktop_ids=[d.desktop_id,"nope"],op_type="os-stop",type="HARD"))); print(a)
time.sleep(1.0)
print(c.show_desktop_detail(ShowDesktopDetailRequest(desktop_id=d.desktop_id)).desktop.status)
try:
    c.batch_run_desktops(BatchRunDesktopsRequest(body=BatchActionDesktopsReq(desktop_ids=[d.desktop_id],op_type="os-stop")))
except ClientRequestException as e: print("ERR", e.status_code, e.error_code, e.error_msg, e.request_id)
print(c.batch_logoff_desktops(BatchLogoffDesktopsRequest(body=LogoffDesktopsReq(desktop_ids=[d.desktop_id], message="bye"))))
time.sleep(0.5)
print(c.batch_rebuild_desktops_system_disk(BatchRebuildDesktopsSystemDiskRequest(body=RebuildDesktopsReq(desktop_ids=[d.desktop_id], image_type="gold", image_id="a9f8cd6e-4e5b-4c8e-9d0c-6f3f1a7b2c11"))))
time.sleep(1.5)
print(c.list_desktop_actions(ListDesktopActionsRequest(desktop_id=d.desktop_id)))
r=c.batch_delete_desktops(BatchDeleteDesktopsRequest(body=DeleteDesktopsReq(desktop_ids=[d.desktop_id]))); print(r)
time.sleep(1)
print(c.list_desktops(ListDesktopsRequest()).total_count)
print(c.list_notification_records(ListNotificationRecordsRequest()))
