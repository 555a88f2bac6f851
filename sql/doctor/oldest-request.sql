-- The oldest raw request kept (inference_requests), '' when there is none;
-- min(ts) is answered from the parts' min-max index, without a scan.
SELECT if(count() = 0, '', toString(toDate(min(ts)))) AS day
FROM inference_requests
